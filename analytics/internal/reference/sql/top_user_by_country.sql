-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/top_user_by_country.sql.
-- The poster with the most followers in each country. Ties go to the poster_name that sorts
-- first. (The greatest count per country, then the first name among the posters with it: two
-- small aggregations instead of sorting every post of a country by count and name.)
WITH joined AS (
    SELECT g.country, p.poster_name, p.follower_count
    FROM pin p
    JOIN geo g ON g.ind = p.ind
    WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL
), best AS (
    SELECT country, max(follower_count) AS follower_count
    FROM joined
    GROUP BY country
)
SELECT j.country, min(j.poster_name) AS poster_name, j.follower_count
FROM joined j
JOIN best b ON b.country = j.country AND b.follower_count = j.follower_count
GROUP BY j.country, j.follower_count
ORDER BY j.country
