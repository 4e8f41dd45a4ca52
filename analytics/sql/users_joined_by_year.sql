-- The number of users who joined in each year from 2015 to 2020 (year of date_joined; one user
-- row per ind).
-- Portable: runs unchanged on DuckDB and on Athena (Trino).
SELECT EXTRACT(YEAR FROM u.date_joined) AS post_year, count(*) AS number_users_joined
FROM "user" u
WHERE EXTRACT(YEAR FROM u.date_joined) BETWEEN 2015 AND 2020
GROUP BY EXTRACT(YEAR FROM u.date_joined)
ORDER BY post_year
