-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/top_country_by_followers.sql.
-- The one row of the country whose top poster has the most followers. Ties go to the country
-- that sorts first, then the poster_name.
SELECT g.country, p.poster_name, p.follower_count
FROM pin p
JOIN geo g ON g.ind = p.ind
WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL
ORDER BY p.follower_count DESC, g.country, p.poster_name
LIMIT 1
