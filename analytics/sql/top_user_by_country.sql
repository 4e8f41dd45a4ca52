-- The poster with the most followers in each country. Ties go to the poster_name that sorts
-- first.
-- Portable: runs unchanged on DuckDB and on Athena (Trino).
WITH ranked AS (
    SELECT g.country, p.poster_name, p.follower_count,
           row_number() OVER (PARTITION BY g.country ORDER BY p.follower_count DESC, p.poster_name) AS rn
    FROM pin p
    JOIN geo g ON g.ind = p.ind
    WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL
)
SELECT country, poster_name, follower_count
FROM ranked
WHERE rn = 1
ORDER BY country
