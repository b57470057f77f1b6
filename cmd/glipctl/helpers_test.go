package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// testBinDir holds the glipctl binary built for the tests that run it.
var testBinDir string

// TestMain gives the tests a private download cache and a directory for
// the binary.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "glipctl-test-cache")
	if err != nil {
		panic(err)
	}
	os.Setenv("GLIPCTL_CACHE", dir)
	if testBinDir, err = os.MkdirTemp("", "glipctl-test-bin"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.RemoveAll(testBinDir)
	os.Exit(code)
}

// glipctlBinary builds glipctl once for the tests that run it as a child
// process.
var glipctlBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(testBinDir, "glipctl")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func buildGlipctl(t *testing.T) string {
	t.Helper()
	bin, err := glipctlBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// testExitCode is the exit code run gives err (0 for nil).
func testExitCode(err error) int {
	if err == nil {
		return exitOK
	}
	return exitCode(err)
}
