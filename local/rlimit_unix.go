//go:build unix

package local

import "syscall"

// RaiseOpenFileLimit raises the soft RLIMIT_NOFILE to the hard limit, so that `serve` meets
// EMFILE as late as the system allows; it returns the soft limit in force afterwards.
func RaiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	want := lim
	want.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// macOS refuses more than kern.maxfilesperproc when the hard limit is unlimited.
		want.Cur = max(lim.Cur, 10240)
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, err
		}
	}
	return want.Cur, nil
}

// openFilesLimit is the soft RLIMIT_NOFILE (0 when unknown).
func openFilesLimit() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	return uint64(lim.Cur)
}
