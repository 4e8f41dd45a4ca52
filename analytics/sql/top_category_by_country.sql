-- The most popular category in each country: posts counted per country and category (pin joined
-- to geo on ind), then the top category of each country. Ties go to the category that sorts first.
-- Portable: runs unchanged on DuckDB and on Athena (Trino). In stages (see analytics/sqldialect).

-- @partial: posts per country and category, over any set of (pin, geo) pairs
SELECT g.country, p.category, count(*) AS category_count
FROM pin p
JOIN geo g ON g.ind = p.ind
WHERE g.country IS NOT NULL AND p.category IS NOT NULL
GROUP BY g.country, p.category

-- @merge: the counts of disjoint sets of pairs add up
SELECT country, category, CAST(sum(category_count) AS BIGINT) AS category_count
FROM partials
GROUP BY country, category

-- @final: the top category of each country
WITH ranked AS (
    SELECT country, category, category_count,
           row_number() OVER (PARTITION BY country ORDER BY category_count DESC, category) AS rn
    FROM merged
)
SELECT country, category, category_count
FROM ranked
WHERE rn = 1
ORDER BY country
