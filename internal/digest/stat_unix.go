//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package digest

import (
	"os"

	"golang.org/x/sys/unix"
)

// fstat returns the stat of an open file.
func fstat(f *os.File) (stat, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return stat{}, false
	}
	return fromUnix(&st), true
}

// statPath returns the stat of the file at path (following symbolic links).
func statPath(path string) (stat, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return stat{}, false
	}
	return fromUnix(&st), true
}

func fromUnix(st *unix.Stat_t) stat {
	return stat{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size, MTime: st.Mtim.Nano(), CTime: st.Ctim.Nano()}
}
