//go:build linux

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// createUnnamed opens an unnamed file in dir (O_TMPFILE) that linkUnnamed
// can give a name. The *os.File is named after target, so that its own
// errors name the target. An error means: use a named temporary file.
func createUnnamed(dir, target string, perm fs.FileMode) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return nil, err
	}
	// Linking goes through /proc/self/fd (linkat with AT_EMPTY_PATH needs
	// CAP_DAC_READ_SEARCH): without /proc the file could never be named.
	var st unix.Stat_t
	if err := unix.Stat(procPath(fd), &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), target), nil
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// linkUnnamed gives the unnamed file f the name name; it fails with
// EEXIST if name exists.
func linkUnnamed(f *os.File, name string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = unix.Linkat(unix.AT_FDCWD, procPath(int(fd)), unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW)
		if errors.Is(lerr, unix.ENOENT) {
			if e := unix.Linkat(int(fd), "", unix.AT_FDCWD, name, unix.AT_EMPTY_PATH); e == nil {
				lerr = nil
			}
		}
	}); err != nil {
		return err
	}
	return lerr
}
