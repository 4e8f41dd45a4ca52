// Package mysqltest starts a throwaway MariaDB server for a test: the real server from the apt
// package (mariadb-install-db, mariadbd), with its data in a temporary directory, listening on a
// unix socket and on a free 127.0.0.1 port, and stopped when the test ends. Tests that use it
// skip on a machine without MariaDB and fail under CI (internal/testenv).
//
// Start-up costs about half a second (a fresh data directory and an InnoDB with small logs);
// every Start is an independent server, so tests can run in parallel.
package mysqltest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// Server is a running throwaway MariaDB server. The user User (password Password) may do
// anything on 127.0.0.1; root may do anything on the socket, without a password.
type Server struct {
	Socket   string // unix socket path
	Host     string // "127.0.0.1"
	Port     int
	User     string
	Password string
	Database string // created empty at start

	cmd      *exec.Cmd
	exited   chan error
	dir      string
	stopOnce sync.Once
}

var serial atomic.Int64

// Start starts a server for t and stops it (removing its data) when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	installDB := testenv.Need(t, "mariadb-install-db", "/usr/bin")
	mariadbd := testenv.Need(t, "mariadbd", "/usr/sbin")
	// A short directory: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "mysqltest")
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	s := &Server{
		Socket: filepath.Join(dir, "sock"), Host: "127.0.0.1",
		User: "pinpipe", Password: "test-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Database: fmt.Sprintf("test%d", serial.Add(1)), dir: dir,
	}
	t.Cleanup(s.Stop)

	// Settings for a disposable server: small InnoDB files, nothing flushed for durability.
	settings := []string{"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M"}
	if os.Geteuid() == 0 {
		settings = append(settings, "--user=root") // mariadbd refuses to run as root without it
	}
	tmpl, err := template(installDB, mariadbd, settings)
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	data := filepath.Join(dir, "data")
	if err := os.CopyFS(data, os.DirFS(tmpl)); err != nil {
		t.Fatalf("mysqltest: copy the data directory template: %v", err)
	}

	s.Port = freePort(t)
	args := append([]string{"--no-defaults", "--datadir=" + data}, settings...)
	s.cmd = exec.Command(mariadbd, append(args,
		"--socket="+s.Socket, "--port="+strconv.Itoa(s.Port), "--bind-address=127.0.0.1",
		"--pid-file="+filepath.Join(dir, "pid"), "--log-error="+filepath.Join(dir, "error.log"),
		"--skip-name-resolve", "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0", "--max-connections=200")...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("mysqltest: start mariadbd: %v", err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()

	root, err := sql.Open("mysql", s.RootDSN())
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	defer root.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = root.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-s.exited:
			s.cmd = nil
			t.Fatalf("mysqltest: mariadbd exited (%v):\n%s", werr, s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mysqltest: mariadbd did not answer in 30s: %v\n%s", err, s.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, q := range []string{
		"CREATE DATABASE `" + s.Database + "`",
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", s.User, s.Password),
		fmt.Sprintf("GRANT ALL ON *.* TO '%s'@'127.0.0.1'", s.User),
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("mysqltest: %s: %v", q, err)
		}
	}
	return s
}

// template returns a freshly installed data directory to copy. mariadb-install-db runs a whole
// bootstrap server (0.5 s to several seconds on a busy machine), so its result is kept in the
// temporary directory, one per mariadbd build and settings, and copied (about 0.1 s) by every
// Start after the first.
func template(installDB, mariadbd string, settings []string) (string, error) {
	st, err := os.Stat(mariadbd)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(fmt.Sprint(mariadbd, st.Size(), st.ModTime().UnixNano(), settings, os.Geteuid())))
	final := filepath.Join(os.TempDir(), "pinpipe-mysqltest-"+hex.EncodeToString(h[:8]))
	if _, err := os.Stat(filepath.Join(final, "mysql")); err == nil {
		return final, nil
	}
	work, err := os.MkdirTemp("", "pinpipe-mysqltest-new")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	data := filepath.Join(work, "data")
	args := append([]string{"--no-defaults", "--datadir=" + data}, settings...)
	args = append(args, "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if out, err := exec.Command(installDB, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	// Rename is atomic: a concurrent test binary either sees no template or a whole one.
	if err := os.Rename(data, final); err != nil {
		if _, statErr := os.Stat(filepath.Join(final, "mysql")); statErr == nil {
			return final, nil // another process won the race
		}
		return "", fmt.Errorf("keep the data directory template: %w", err)
	}
	return final, nil
}

// DSN is a go-sql-driver/mysql DSN for User over TCP to Database, with parseTime on.
func (s *Server) DSN() string {
	return s.Config().FormatDSN()
}

// Config is the driver configuration behind DSN.
func (s *Server) Config() *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd = s.User, s.Password
	c.Net, c.Addr = "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	c.DBName = s.Database
	c.ParseTime = true
	return c
}

// RootDSN is a DSN for root over the unix socket, with no database selected.
func (s *Server) RootDSN() string {
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr = "root", "unix", s.Socket
	return c.FormatDSN()
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	if i := bytes.LastIndex(b, []byte("\n")); len(b) > 4000 && i > 0 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop kills the server and removes its data. Start arranges it at the end of the test; calling
// it earlier is allowed.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd != nil {
			// SIGKILL: the data is thrown away, so there is nothing to shut down cleanly.
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		_ = os.RemoveAll(s.dir)
	})
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mysqltest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
