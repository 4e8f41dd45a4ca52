-- The one row of the country whose top poster has the most followers. Ties go to the country
-- that sorts first, then the poster_name.
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect).

-- @partial: the posters of any set of (pin, geo) pairs, with their countries and counts
SELECT g.country, p.poster_name, p.follower_count
FROM pin p
JOIN geo g ON g.ind = p.ind
WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL

-- @merge: the first row by count (descending), country and name (the first of firsts is the first)
SELECT country, poster_name, follower_count
FROM partials
ORDER BY follower_count DESC, country, poster_name
LIMIT 1

-- @final
SELECT country, poster_name, follower_count
FROM merged
