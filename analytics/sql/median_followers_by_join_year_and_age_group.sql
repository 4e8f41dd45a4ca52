-- The exact median follower count by age group and joining year, 2015 to 2020 (pin joined to
-- user on ind; ages under 18 left out). Ordered by age group (youngest first), then year.
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect);
-- the median as in median_followers_by_age_group.sql.

-- @partial: posts per age group, joining year and follower count, over any set of (pin, user) pairs
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
SELECT age_group, post_year, follower_count, count(*) AS posts
FROM grouped
GROUP BY age_group, post_year, follower_count

-- @merge: the counts of disjoint sets of pairs add up
SELECT age_group, post_year, follower_count, CAST(sum(posts) AS BIGINT) AS posts
FROM partials
GROUP BY age_group, post_year, follower_count

-- @final: the exact median of each group (see median_followers_by_age_group.sql)
WITH counted AS (
    SELECT age_group, post_year, follower_count,
           sum(posts) OVER (PARTITION BY age_group, post_year ORDER BY follower_count) AS upto,
           sum(posts) OVER (PARTITION BY age_group, post_year) AS total
    FROM merged
), middle AS (
    SELECT age_group, post_year,
           min(CASE WHEN 2 * upto >= total THEN follower_count END) AS lo,
           min(CASE WHEN 2 * upto > total THEN follower_count END) AS hi
    FROM counted
    GROUP BY age_group, post_year
)
SELECT age_group, post_year, CAST(lo AS DOUBLE) * 0.5e0 + CAST(hi AS DOUBLE) * 0.5e0 AS median_follower_count
FROM middle
ORDER BY CASE age_group WHEN '18-24' THEN 1 WHEN '25-35' THEN 2 WHEN '36-50' THEN 3 ELSE 4 END, post_year
