package jpeg

import (
	"os"
	"testing"
)

// BenchmarkDecodeFile decodes $JPEG_BENCH_FILE (scripts/bench/make_bench_jpeg.py
// makes a 4032x3024 4:2:0 q90 one) to RGB, as the preprocessing pipeline does.
func BenchmarkDecodeFile(b *testing.B) {
	path := os.Getenv("JPEG_BENCH_FILE")
	if path == "" {
		b.Skip("JPEG_BENCH_FILE not set (scripts/bench/make_bench_jpeg.py makes one)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		img, err := Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		_ = img.RGB()
	}
}

// BenchmarkDecodeFixtures decodes every committed fixture once per op.
func BenchmarkDecodeFixtures(b *testing.B) {
	files := fixtureFiles(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, data := range files {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	}
}
