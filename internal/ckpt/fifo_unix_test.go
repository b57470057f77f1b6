//go:build unix

package ckpt

import "syscall"

// mkfifo makes a named pipe (for the tests of non-regular inputs).
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
