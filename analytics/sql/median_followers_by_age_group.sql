-- The exact median follower count of each age group (pin joined to user on ind). Ages under 18
-- are left out. The median is the mean of the two middle values when the count is even: the
-- rows whose rank rn satisfies n <= 2*rn <= n+2 are the one or two middle values. This form is
-- exact and portable (Trino has only approx_percentile), so it runs unchanged on DuckDB and on
-- Athena (Trino). Groups are ordered by age, youngest first.
WITH grouped AS (
    SELECT CASE
               WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
               WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
               WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
               ELSE '+50'
           END AS age_group,
           p.follower_count
    FROM pin p
    JOIN "user" u ON u.ind = p.ind
    WHERE u.age >= 18 AND p.follower_count IS NOT NULL
), ranked AS (
    SELECT age_group, follower_count,
           row_number() OVER (PARTITION BY age_group ORDER BY follower_count) AS rn,
           count(*) OVER (PARTITION BY age_group) AS n
    FROM grouped
)
SELECT age_group, avg(CAST(follower_count AS DOUBLE)) AS median_follower_count
FROM ranked
WHERE 2 * rn BETWEEN n AND n + 2
GROUP BY age_group
ORDER BY CASE age_group WHEN '18-24' THEN 1 WHEN '25-35' THEN 2 WHEN '36-50' THEN 3 ELSE 4 END
