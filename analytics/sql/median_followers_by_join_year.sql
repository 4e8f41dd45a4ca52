-- The exact median follower count of the posts' users by the year they joined, 2015 to 2020
-- (pin joined to user on ind).
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect);
-- the median as in median_followers_by_age_group.sql.

-- @partial: posts per joining year and follower count, over any set of (pin, user) pairs
SELECT EXTRACT(YEAR FROM u.date_joined) AS post_year, p.follower_count, count(*) AS posts
FROM pin p
JOIN "user" u ON u.ind = p.ind
WHERE p.follower_count IS NOT NULL
  AND EXTRACT(YEAR FROM u.date_joined) BETWEEN 2015 AND 2020
GROUP BY EXTRACT(YEAR FROM u.date_joined), p.follower_count

-- @merge: the counts of disjoint sets of pairs add up
SELECT post_year, follower_count, CAST(sum(posts) AS BIGINT) AS posts
FROM partials
GROUP BY post_year, follower_count

-- @final: the exact median of each year (see median_followers_by_age_group.sql)
WITH counted AS (
    SELECT post_year, follower_count,
           sum(posts) OVER (PARTITION BY post_year ORDER BY follower_count) AS upto,
           sum(posts) OVER (PARTITION BY post_year) AS total
    FROM merged
), middle AS (
    SELECT post_year,
           min(CASE WHEN 2 * upto >= total THEN follower_count END) AS lo,
           min(CASE WHEN 2 * upto > total THEN follower_count END) AS hi
    FROM counted
    GROUP BY post_year
)
SELECT post_year, CAST(lo AS DOUBLE) * 0.5e0 + CAST(hi AS DOUBLE) * 0.5e0 AS median_follower_count
FROM middle
ORDER BY post_year
