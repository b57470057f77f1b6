package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams is where a command reads and writes. Results go to Out,
// diagnostics and progress to ErrOut. Tests build one over buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrTTY is true when ErrOut is a terminal: progress bars are drawn
	// only then.
	ErrTTY bool
}

func defaultStreams() *IOStreams {
	return &IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
}
