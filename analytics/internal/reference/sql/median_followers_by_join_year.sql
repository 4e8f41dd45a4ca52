-- The benchmark reference's plain query (see ../main.go); the product's is analytics/sql/median_followers_by_join_year.sql.
-- The exact median follower count of the posts' users by the year they joined, 2015 to 2020
-- (pin joined to user on ind). Median as in median_followers_by_age_group.sql.
SELECT EXTRACT(YEAR FROM u.date_joined) AS post_year, median(p.follower_count) AS median_follower_count
FROM pin p
JOIN "user" u ON u.ind = p.ind
WHERE p.follower_count IS NOT NULL
  AND EXTRACT(YEAR FROM u.date_joined) BETWEEN 2015 AND 2020
GROUP BY EXTRACT(YEAR FROM u.date_joined)
ORDER BY post_year
