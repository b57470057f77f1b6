package preprocess

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkResize640x480To224: the resize stage of each pipeline on a
// 640x480 BGR image to 224x224 (scripts/bench/bench_preprocess.sh sets it
// against PIL's and OpenCV's in the same run). best-ms is the fastest
// single call, the figure that script compares (the machine may be shared).
func BenchmarkResize640x480To224(b *testing.B) {
	src, err := DecodeAs(noisePNG(b, 640, 480, 1), PIL)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range pipelines {
		for _, in := range interps {
			b.Run(fmt.Sprintf("%s/%s", p, in), func(b *testing.B) {
				b.SetBytes(int64(len(src.Pix)))
				best := time.Duration(1 << 62)
				for b.Loop() {
					t0 := time.Now()
					if _, err := src.ResizeAs(p, in, 224, 224); err != nil {
						b.Fatal(err)
					}
					best = min(best, time.Since(t0))
				}
				b.ReportMetric(float64(best)/1e6, "best-ms")
			})
		}
	}
}
