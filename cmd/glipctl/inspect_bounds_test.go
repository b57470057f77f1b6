package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// q8GGUF is the 98-byte GGUF: one Q8_0 tensor of shape
// [8718968878589280256], whose byte size overflows int64.
func q8GGUF() []byte {
	le := binary.LittleEndian
	b := []byte("GGUF")
	b = le.AppendUint32(b, 3)
	b = le.AppendUint64(b, 1)
	b = le.AppendUint64(b, 0)
	b = le.AppendUint64(b, 1)
	b = append(b, 'w')
	b = le.AppendUint32(b, 1)
	b = le.AppendUint64(b, 8718968878589280256)
	b = le.AppendUint32(b, 8)
	b = le.AppendUint64(b, 0)
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	b = append(b, 0x00, 0x3c)
	for range 32 {
		b = append(b, 1)
	}
	return b
}

// runBounded is runCmd that fails the test instead of hanging.
func runBounded(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type res struct {
		code     int
		out, err string
	}
	done := make(chan res, 1)
	go func() { c, o, e := runCmd(t, args...); done <- res{c, o, e} }()
	select {
	case r := <-done:
		return r.code, r.out, r.err
	case <-time.After(20 * time.Second):
		t.Fatalf("%v does not finish", args)
	}
	return 0, "", ""
}

// TestHostileSizes: the q8 GGUF and a FIFO are one-line errors (exit 1)
// for inspect, inspect --stats and diff: no panic, no allocation sized by
// the header, no blocking read.
func TestHostileSizes(t *testing.T) {
	dir := t.TempDir()
	q8 := filepath.Join(dir, "q8.gguf")
	if err := os.WriteFile(q8, q8GGUF(), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe.pth")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", q8}, "q8.gguf: gguf: tensor \"w\": 8718968878589280256 elements of Q8_0 overflow"},
		{[]string{"inspect", "--stats", q8}, "q8.gguf: gguf: tensor \"w\""},
		{[]string{"diff", q8, q8}, "q8.gguf: gguf: tensor \"w\""},
		{[]string{"inspect", fifo}, "pipe.pth: is a named pipe (FIFO), not a regular file"},
		{[]string{"inspect", "/dev/zero"}, "/dev/zero: is a character device, not a regular file"},
	} {
		code, out, errOut := runBounded(t, tc.args...)
		if code != exitError || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 || strings.Contains(errOut, "panic") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, errOut, exitError, tc.want)
		}
		if out != "" {
			t.Errorf("%v: partial output %q", tc.args, out)
		}
	}
}

// TestInspectUnsupportedJSON: inspect lists the complex, quantized and
// sparse tensors of testdata/unsupported.pth and reads the others.
func TestInspectUnsupportedJSON(t *testing.T) {
	code, out, errOut := runCmd(t, "inspect", "--format", "json", td+"unsupported.pth")
	if code != 0 || !strings.Contains(out, `"unsupported":[{"name":"c","reason":"complex tensor (torch.ComplexFloatStorage)"}`) {
		t.Fatalf("exit %d, stderr %q, out %s", code, errOut, out)
	}
}

// TestDiffWarnsUnsupported: diff compares the readable tensors of
// testdata/unsupported.pth and warns, once per file, about each one it
// cannot read.
func TestDiffWarnsUnsupported(t *testing.T) {
	code, out, errOut := runCmd(t, "diff", td+"unsupported.pth", td+"unsupported.pth", "--atol", "0", "--rtol", "0")
	if code != 0 || !strings.Contains(out, "2 tensors compared, 0 differ") ||
		strings.Count(errOut, `warning: `+td+`unsupported.pth: tensor "c" ignored: complex tensor`) != 2 {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
