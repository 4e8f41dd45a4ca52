-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/top_category_by_year.sql.
-- The most popular category of each year from 2018 to 2022 (year of the post's geolocation
-- timestamp). Ties go to the category that sorts first.
WITH counts AS (
    SELECT EXTRACT(YEAR FROM g."timestamp") AS post_year, p.category, count(*) AS category_count
    FROM pin p
    JOIN geo g ON g.ind = p.ind
    WHERE p.category IS NOT NULL
      AND EXTRACT(YEAR FROM g."timestamp") BETWEEN 2018 AND 2022
    GROUP BY EXTRACT(YEAR FROM g."timestamp"), p.category
), ranked AS (
    SELECT post_year, category, category_count,
           row_number() OVER (PARTITION BY post_year ORDER BY category_count DESC, category) AS rn
    FROM counts
)
SELECT post_year, category, category_count
FROM ranked
WHERE rn = 1
ORDER BY post_year
