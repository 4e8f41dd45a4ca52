-- The poster with the most followers in each country. Ties go to the poster_name that sorts
-- first. (The greatest count per country, then the first name among the posters with it: two
-- small aggregations instead of sorting every post of a country by count and name.)
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect).

-- @partial: the posters of any set of (pin, geo) pairs, with their countries and counts
SELECT g.country, p.poster_name, p.follower_count
FROM pin p
JOIN geo g ON g.ind = p.ind
WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL

-- @merge: the top poster of each country (one row per country; the top of tops is the top)
WITH best AS (
    SELECT country, max(follower_count) AS follower_count
    FROM partials
    GROUP BY country
)
SELECT p.country, min(p.poster_name) AS poster_name, p.follower_count
FROM partials p
JOIN best b ON b.country = p.country AND b.follower_count = p.follower_count
GROUP BY p.country, p.follower_count

-- @final
SELECT country, poster_name, follower_count
FROM merged
ORDER BY country
