package mysqltest

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
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

// BenchmarkStart measures what a test pays for its own server: copy of the data directory
// template, start, first answer, database and user creation, stop.
func BenchmarkStart(b *testing.B) {
	Start(b).Stop() // the first Start may build the template; do not count it
	for b.Loop() {
		Start(b).Stop()
	}
}

// BenchmarkInstallDB is the reference for BenchmarkStart: what mariadb-install-db alone costs,
// which every Start would pay without the template.
func BenchmarkInstallDB(b *testing.B) {
	installDB := testenv.Need(b, "mariadb-install-db", "/usr/bin")
	args := []string{"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	for b.Loop() {
		dir := b.TempDir()
		out, err := exec.Command(installDB, append([]string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data")}, args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}
