-- The number of users who joined in each year from 2015 to 2020 (year of date_joined; one user
-- row per ind).
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect).

-- @partial: users per joining year, over any set of users
SELECT EXTRACT(YEAR FROM u.date_joined) AS post_year, count(*) AS number_users_joined
FROM "user" u
WHERE EXTRACT(YEAR FROM u.date_joined) BETWEEN 2015 AND 2020
GROUP BY EXTRACT(YEAR FROM u.date_joined)

-- @merge: the counts of disjoint sets of users add up
SELECT post_year, CAST(sum(number_users_joined) AS BIGINT) AS number_users_joined
FROM partials
GROUP BY post_year

-- @final
SELECT post_year, number_users_joined
FROM merged
ORDER BY post_year
