package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The test helpers of the commands, in one place.

// td is the repository's testdata directory, seen from this package.
const td = "../../testdata/"

// fixture returns the path of a file of testdata/.
func fixture(name string) string { return filepath.Join(td, name) }

// testStreams returns IOStreams over buffers: no input, stdout and stderr
// captured.
func testStreams() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

// runCmd runs glipctl with args over buffers and returns the exit code,
// stdout and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	io, out, errOut := testStreams()
	code := run(context.Background(), args, io)
	return code, out.String(), errOut.String()
}
