package mysqltest

import (
	"database/sql"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStart(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("mariadbd ready in %s", time.Since(start))

	db, err := sql.Open("mysql", s.DSN())
	require.NoError(t, err)
	defer db.Close()
	var name string
	require.NoError(t, db.QueryRow("SELECT DATABASE()").Scan(&name))
	assert.Equal(t, s.Database, name)

	root, err := sql.Open("mysql", s.RootDSN())
	require.NoError(t, err)
	defer root.Close()
	var version string
	require.NoError(t, root.QueryRow("SELECT VERSION()").Scan(&version))
	assert.Contains(t, version, "MariaDB")

	// A wrong password is refused: the server checks credentials.
	c := s.Config()
	c.Passwd = "wrong"
	bad, err := sql.Open("mysql", c.FormatDSN())
	require.NoError(t, err)
	defer bad.Close()
	assert.ErrorContains(t, bad.Ping(), "Access denied")
}

// BenchmarkStart measures what a test pays for its own server (install, start, first answer,
// stop).
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		b.Run("server", func(b *testing.B) { Start(b) })
	}
}
