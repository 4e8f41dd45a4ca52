-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/median_followers_by_join_year_and_age_group.sql.
-- The exact median follower count by age group and joining year, 2015 to 2020 (pin joined to
-- user on ind; ages under 18 left out). Median as in median_followers_by_age_group.sql.
-- Ordered by age group (youngest first), then year.
WITH grouped AS (
    SELECT CASE
               WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
               WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
               WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
               ELSE '+50'
           END AS age_group,
           EXTRACT(YEAR FROM u.date_joined) AS post_year,
           p.follower_count
    FROM pin p
    JOIN "user" u ON u.ind = p.ind
    WHERE u.age >= 18 AND p.follower_count IS NOT NULL
      AND EXTRACT(YEAR FROM u.date_joined) BETWEEN 2015 AND 2020
)
SELECT age_group, post_year, median(follower_count) AS median_follower_count
FROM grouped
GROUP BY age_group, post_year
ORDER BY CASE age_group WHEN '18-24' THEN 1 WHEN '25-35' THEN 2 WHEN '36-50' THEN 3 ELSE 4 END, post_year
