// Command benchjpeg is scripts/bench/bench_jpeg.sh's timing helper: it reads the
// JPEG file named by its argument and, for every line on standard input,
// decodes it once (internal/jpeg Decode and RGB, all cores) and prints the
// wall-clock seconds. The script interleaves these decodes with PIL's and
// OpenCV's so that all three see the same machine load.
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/glipctl/glipctl/internal/jpeg"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchjpeg FILE.jpg")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchjpeg:", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		t0 := time.Now()
		img, err := jpeg.Decode(data)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchjpeg: %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		rgb := img.RGB()
		fmt.Printf("%.6f %d\n", time.Since(t0).Seconds(), len(rgb))
	}
}
