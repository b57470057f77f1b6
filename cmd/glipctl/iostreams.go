package main

import (
	"fmt"
	"io"
	"os"

	"github.com/glipctl/glipctl/internal/ghactions"
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
	// Actions is the GitHub Actions step glipctl runs in (nil elsewhere):
	// errors and warnings are also annotations, reports go to the job
	// summary.
	Actions *ghactions.Env
}

// warn prints a warning about file ("" for none) on ErrOut, and as an
// annotation in GitHub Actions.
func (io *IOStreams) warn(file, msg string) {
	line := msg
	if file != "" {
		line = file + ": " + msg
	}
	fmt.Fprintf(io.ErrOut, "glipctl: warning: %s\n", line)
	io.Actions.Annotate(io.ErrOut, "warning", file, msg)
}

// summarize appends a Markdown report to the GitHub Actions job summary
// (nothing elsewhere); failing to is a warning, not an error.
func (io *IOStreams) summarize(markdown []byte) {
	if err := io.Actions.AppendSummary(markdown); err != nil {
		io.warn("", "job summary: "+err.Error())
	}
}

func defaultStreams() *IOStreams {
	return &IOStreams{
		In:      os.Stdin,
		Out:     os.Stdout,
		ErrOut:  os.Stderr,
		ErrTTY:  term.IsTerminal(int(os.Stderr.Fd())),
		Actions: ghactions.FromEnv(os.Getenv),
	}
}
