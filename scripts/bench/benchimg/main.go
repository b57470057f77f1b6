// Command benchimg is scripts/bench/bench_images.sh's timing helper for the
// decode + resize stage: it reads commands on standard input, one a line,
// "pil FILE" or "cv2 FILE", and for each runs internal/preprocess.Prepare
// on FILE (read from disk, decoded, resized to 224x224 bilinear, as
// `glipctl forward --preprocess pil|cv2` does before normalising) and
// prints the wall-clock seconds and the output's size. The script
// interleaves these calls with PIL's and OpenCV's so that all sides see
// the same machine load.
//
// It is a module of its own (replacing the main module by ../../..) so that
// the main module's `go vet ./...` and `go test ./...` do not walk it.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/glipctl/glipctl/internal/preprocess"
)

func main() {
	if len(os.Args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: benchimg < COMMANDS   (lines: pil FILE | cv2 FILE)")
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		name, path, ok := strings.Cut(in.Text(), " ")
		if !ok {
			fail(fmt.Errorf("bad command %q (want pil FILE or cv2 FILE)", in.Text()))
		}
		p, err := preprocess.ParsePipeline(name)
		if err != nil {
			fail(err)
		}
		opts := preprocess.Options{Pipeline: p, Interp: preprocess.Bilinear,
			Size: preprocess.Size{Mode: preprocess.ResizeSquare, W: 224, H: 224}}
		t0 := time.Now()
		r, err := preprocess.Prepare(path, opts)
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "%.6f %dx%d\n", time.Since(t0).Seconds(), r.Image.W, r.Image.H)
		out.Flush()
	}
	if err := in.Err(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchimg:", err)
	os.Exit(1)
}
