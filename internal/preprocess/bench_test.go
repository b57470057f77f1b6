package preprocess

import (
	"fmt"
	"testing"
)

// BenchmarkResize640x480To224: the resize stage of each pipeline on a
// 640x480 BGR image to 224x224 (scripts/bench_preprocess.sh sets it
// against PIL's and OpenCV's in the same run).
func BenchmarkResize640x480To224(b *testing.B) {
	src, err := DecodeAs(noisePNG(b, 640, 480, 1), PIL)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range pipelines {
		for _, in := range interps {
			b.Run(fmt.Sprintf("%s/%s", p, in), func(b *testing.B) {
				b.SetBytes(int64(len(src.Pix)))
				for b.Loop() {
					if _, err := src.ResizeAs(p, in, 224, 224); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
