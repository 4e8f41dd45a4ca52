package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the name of the data directory's lock file.
const lockFile = "LOCK"

// dataDirLock is a held flock(2) on <data dir>/LOCK.
type dataDirLock struct{ f *os.File }

// lockDataDir takes the data directory's one lock before anything else opens a file in it, so a
// second pipeline on the same directory fails at once, naming the holder, and touches nothing
// (no broker log, stream file, sink temp file or database is opened). The kernel drops the lock
// when the holder exits, however it exits, so a stale LOCK file never blocks a start.
func lockDataDir(dir string) (*dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			holder := "PID unknown"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = "PID " + strconv.Itoa(pid)
			}
			return nil, fmt.Errorf("data dir %s is in use by pinpipe (%s); stop it or pick another --data-dir", dir, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &dataDirLock{f}, nil
}

// release drops the lock. The file stays: removing it would let a third process lock a new
// file while a second still waits on the old one.
func (l *dataDirLock) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
