-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/median_followers_by_age_group.sql.
-- The exact median follower count of each age group (pin joined to user on ind). Ages under 18
-- are left out. median() is DuckDB's exact median: the mean of the two middle values when the
-- count is even. Groups are ordered by age, youngest first.
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
)
SELECT age_group, median(follower_count) AS median_follower_count
FROM grouped
GROUP BY age_group
ORDER BY CASE age_group WHEN '18-24' THEN 1 WHEN '25-35' THEN 2 WHEN '36-50' THEN 3 ELSE 4 END
