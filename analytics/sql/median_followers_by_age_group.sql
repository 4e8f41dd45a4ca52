-- The exact median follower count of each age group (pin joined to user on ind). Ages under 18
-- are left out. Groups are ordered by age, youngest first.
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect):
-- the partial counts the posts per group and follower count (few distinct counts: a small table
-- however many posts), merged by adding up; the final takes the exact median from those counts.

-- @partial: posts per age group and follower count, over any set of (pin, user) pairs
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
SELECT age_group, follower_count, count(*) AS posts
FROM grouped
GROUP BY age_group, follower_count

-- @merge: the counts of disjoint sets of pairs add up
SELECT age_group, follower_count, CAST(sum(posts) AS BIGINT) AS posts
FROM partials
GROUP BY age_group, follower_count

-- @final: the exact median of each group: of its n values in order, the mean of the values at
-- positions ceil(n/2) and floor(n/2) + 1 (one value when n is odd), the value at position k being
-- the first whose running count reaches k. The mean is taken as DuckDB's median() takes it
-- (lo * 0.5 + hi * 0.5 in DOUBLE), so both give the same DOUBLE.
WITH counted AS (
    SELECT age_group, follower_count,
           sum(posts) OVER (PARTITION BY age_group ORDER BY follower_count) AS upto,
           sum(posts) OVER (PARTITION BY age_group) AS total
    FROM merged
), middle AS (
    SELECT age_group,
           min(CASE WHEN 2 * upto >= total THEN follower_count END) AS lo,
           min(CASE WHEN 2 * upto > total THEN follower_count END) AS hi
    FROM counted
    GROUP BY age_group
)
SELECT age_group, CAST(lo AS DOUBLE) * 0.5e0 + CAST(hi AS DOUBLE) * 0.5e0 AS median_follower_count
FROM middle
ORDER BY CASE age_group WHEN '18-24' THEN 1 WHEN '25-35' THEN 2 WHEN '36-50' THEN 3 ELSE 4 END
