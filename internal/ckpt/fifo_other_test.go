//go:build !unix

package ckpt

import "errors"

// mkfifo: this system has no named pipes.
func mkfifo(path string) error { return errors.New("no named pipes on this system") }
