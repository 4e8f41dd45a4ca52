-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/top_category_by_country.sql.
-- The most popular category in each country: posts counted per country and category (pin joined
-- to geo on ind), then the top category of each country. Ties go to the category that sorts first.
WITH counts AS (
    SELECT g.country, p.category, count(*) AS category_count
    FROM pin p
    JOIN geo g ON g.ind = p.ind
    WHERE g.country IS NOT NULL AND p.category IS NOT NULL
    GROUP BY g.country, p.category
), ranked AS (
    SELECT country, category, category_count,
           row_number() OVER (PARTITION BY country ORDER BY category_count DESC, category) AS rn
    FROM counts
)
SELECT country, category, category_count
FROM ranked
WHERE rn = 1
ORDER BY country
