package athena

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBind(t *testing.T) {
	views := map[string]string{"pin": "SELECT 1 AS a", "user": "SELECT 2 AS b"}
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "SELECT * FROM pin", "WITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b)\nSELECT * FROM pin"},
		{"comments kept first", "-- c\n-- d\nSELECT 1", "-- c\n-- d\nWITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b)\nSELECT 1"},
		{"own WITH merged", "-- c\nWITH x AS (SELECT 3)\nSELECT * FROM x", "-- c\nWITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b),\nx AS (SELECT 3)\nSELECT * FROM x"},
		{"with in a comment is not the query's", "-- with x\nSELECT 1", "-- with x\nWITH \"pin\" AS (SELECT 1 AS a),\n     \"user\" AS (SELECT 2 AS b)\nSELECT 1"},
	} {
		got, err := Bind(tc.in, views)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
	_, err := Bind("SELECT 1", map[string]string{"Bad Name": "SELECT 1"})
	assert.ErrorContains(t, err, "athena.Bind: view name")
	_, err = Bind("  ", views)
	assert.ErrorContains(t, err, "empty query")
}

// A bound query runs, and reads the views, in DuckDB (whose WITH semantics Trino shares).
func TestBindRuns(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE raw_users (ind BIGINT, name VARCHAR); INSERT INTO raw_users VALUES (1,'a'),(1,'a'),(2,'b')`)
	require.NoError(t, err)
	q, err := Bind("-- users\nWITH n AS (SELECT count(*) AS c FROM \"user\")\nSELECT c FROM n",
		map[string]string{"user": "SELECT DISTINCT ind, name FROM raw_users"})
	require.NoError(t, err)
	var c int
	require.NoError(t, db.QueryRow(q).Scan(&c), q)
	assert.Equal(t, 2, c)
}
