//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package digest

import "os"

// Without a Unix stat (device, inode, change time) nothing is cached.

func fstat(*os.File) (stat, bool)  { return stat{}, false }
func statPath(string) (stat, bool) { return stat{}, false }
