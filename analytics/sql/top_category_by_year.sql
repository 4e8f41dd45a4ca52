-- The most popular category of each year from 2018 to 2022 (year of the post's geolocation
-- timestamp). Ties go to the category that sorts first.
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect).

-- @partial: posts per year and category, over any set of (pin, geo) pairs
SELECT EXTRACT(YEAR FROM g."timestamp") AS post_year, p.category, count(*) AS category_count
FROM pin p
JOIN geo g ON g.ind = p.ind
WHERE p.category IS NOT NULL
  AND EXTRACT(YEAR FROM g."timestamp") BETWEEN 2018 AND 2022
GROUP BY EXTRACT(YEAR FROM g."timestamp"), p.category

-- @merge: the counts of disjoint sets of pairs add up
SELECT post_year, category, CAST(sum(category_count) AS BIGINT) AS category_count
FROM partials
GROUP BY post_year, category

-- @final: the top category of each year
WITH ranked AS (
    SELECT post_year, category, category_count,
           row_number() OVER (PARTITION BY post_year ORDER BY category_count DESC, category) AS rn
    FROM merged
)
SELECT post_year, category, category_count
FROM ranked
WHERE rn = 1
ORDER BY post_year
