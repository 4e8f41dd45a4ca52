-- The exact median follower count of the posts' users by the year they joined, 2015 to 2020
-- (pin joined to user on ind). Median as in median_followers_by_age_group.sql: the mean of the
-- one or two middle values (n <= 2*rn <= n+2).
-- Portable: runs unchanged on DuckDB and on Athena (Trino).
WITH ranked AS (
    SELECT EXTRACT(YEAR FROM u.date_joined) AS post_year, p.follower_count,
           row_number() OVER (PARTITION BY EXTRACT(YEAR FROM u.date_joined) ORDER BY p.follower_count) AS rn,
           count(*) OVER (PARTITION BY EXTRACT(YEAR FROM u.date_joined)) AS n
    FROM pin p
    JOIN "user" u ON u.ind = p.ind
    WHERE p.follower_count IS NOT NULL
      AND EXTRACT(YEAR FROM u.date_joined) BETWEEN 2015 AND 2020
)
SELECT post_year, avg(CAST(follower_count AS DOUBLE)) AS median_follower_count
FROM ranked
WHERE 2 * rn BETWEEN n AND n + 2
GROUP BY post_year
ORDER BY post_year
