package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/forward"
	"github.com/spf13/cobra"
)

// version is the glipctl version; release builds set it with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes, documented in the root command's help and README.md.
const (
	exitOK          = 0 // success
	exitError       = 1 // the command failed (bad input, I/O, network)
	exitUsage       = 2 // the command line is wrong
	exitCheckFailed = 3 // a check ran and failed (a comparison out of tolerance)
)

// exitErr carries an exit code with an error.
type exitErr struct {
	code int
	err  error
	file string // the file the error is about, when known
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// usageError marks err as a command-line mistake (exit 2).
func usageError(format string, a ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// checkFailed marks err as a failed check (exit 3).
func checkFailed(err error) error {
	return &exitErr{code: exitCheckFailed, err: err}
}

// checkFailedOn is checkFailed for a check of file.
func checkFailedOn(file string, err error) error {
	return &exitErr{code: exitCheckFailed, err: err, file: file}
}

const rootLong = `glipctl works with the GLIP vision backbones (Swin-T and Swin-L from
"Grounded Language-Image Pre-training", as published in the mmpretrain model zoo):
it reads their checkpoints without executing any pickle, converts them between the
GLIP naming, the mmpretrain naming, safetensors and GGUF, reports shapes and
statistics, and runs a reference forward pass.

Results go to standard output, diagnostics to standard error.

Exit codes:
  0  success
  1  error (bad or missing input, I/O, network)
  2  usage error (unknown flag, wrong arguments)
  3  a check failed (e.g. a comparison out of tolerance)`

func newRootCmd(io *IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:           "glipctl",
		Short:         "Inspect, convert and run GLIP Swin backbone checkpoints",
		Long:          rootLong,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetIn(io.In)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitErr{code: exitUsage, err: err}
	})
	root.AddCommand(newInspectCmd(io, nil))
	root.AddCommand(newForwardCmd(io, nil), newDiffCmd(io, nil))
	root.AddCommand(newConvertCmd(io, nil))
	root.AddCommand(newZooCmd(io, nil), newDownloadCmd(io, nil))
	root.AddCommand(newLockCmd(io, nil), newVerifyCmd(io, nil), newCacheCmd(io, nil))
	return root
}

// run executes glipctl with args and returns the process exit code.
func run(ctx context.Context, args []string, io *IOStreams) int {
	root := newRootCmd(io)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	msg := oneLine(err.Error())
	fmt.Fprintf(io.ErrOut, "glipctl: %s\n", msg)
	io.Actions.Annotate(io.ErrOut, "error", errorFile(err), msg)
	if code == exitUsage {
		fmt.Fprintln(io.ErrOut, "Run 'glipctl --help' for usage.")
	}
	return code
}

// exitCode is the process exit code of a command's error (err != nil).
func exitCode(err error) int {
	var ee *exitErr
	switch {
	case errors.As(err, &ee):
		return ee.code
	case isCobraUsageError(err):
		return exitUsage
	}
	return exitError
}

// errorFile is the file an error is about, for an annotation ("" when it
// names none).
func errorFile(err error) string {
	var pe *fs.PathError
	var ie *forward.InputError
	var ee *exitErr
	var fe *ckpt.FormatError
	switch {
	case errors.As(err, &ee) && ee.file != "":
		return ee.file
	case errors.As(err, &fe):
		return fe.File
	case errors.As(err, &ie):
		return ie.Path
	case errors.As(err, &pe):
		return pe.Path
	}
	return ""
}

// isCobraUsageError recognises the errors cobra returns for bad commands and
// argument counts, which it does not type.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// oneLine folds a multi-line error message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
