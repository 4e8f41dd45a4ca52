-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/users_joined_by_year.sql.
-- The number of users who joined in each year from 2015 to 2020 (year of date_joined; one user
-- row per ind).
SELECT EXTRACT(YEAR FROM u.date_joined) AS post_year, count(*) AS number_users_joined
FROM "user" u
WHERE EXTRACT(YEAR FROM u.date_joined) BETWEEN 2015 AND 2020
GROUP BY EXTRACT(YEAR FROM u.date_joined)
ORDER BY post_year
