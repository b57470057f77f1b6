package preprocess

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
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

// cameraJPEG is a camera-like w×h picture as scripts/bench/bench_images.sh
// draws them (smooth colour fields, a few hard-edged patches, sensor noise
// of standard deviation sigma), encoded 4:2:0 at quality q by Go's
// image/jpeg, seeded.
func cameraJPEG(w, h, q int, sigma float64, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 11))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var fx, fy, ph [3]float64
	for c := range 3 {
		fx[c], fy[c], ph[c] = 0.003+0.027*rng.Float64(), 0.003+0.027*rng.Float64(), 6.3*rng.Float64()
	}
	type patch struct {
		x0, y0, x1, y1 int
		c              [3]uint8
	}
	var patches []patch
	for range 4 {
		x0, y0 := rng.IntN(w-w/16), rng.IntN(h-h/12)
		p := patch{x0: x0, y0: y0, x1: x0 + w/32 + rng.IntN(w/3), y1: y0 + h/24 + rng.IntN(h/2)}
		p.c = [3]uint8{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))}
		patches = append(patches, p)
	}
	for y := range h {
		for x := range w {
			var v [3]float64
			for c := range 3 {
				v[c] = 128 + 70*math.Sin(fx[c]*float64(x)*640/float64(w)+ph[c])*math.Cos(fy[c]*float64(y)*480/float64(h))
			}
			for _, p := range patches {
				if x >= p.x0 && x < p.x1 && y >= p.y0 && y < p.y1 {
					v = [3]float64{float64(p.c[0]), float64(p.c[1]), float64(p.c[2])}
				}
			}
			i := img.PixOffset(x, y)
			for c := range 3 {
				img.Pix[i+c] = uint8(max(0, min(255, v[c]+sigma*rng.NormFloat64())))
			}
			img.Pix[i+3] = 255
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err) // writing to memory cannot fail
	}
	return b.Bytes()
}

// benchPictures are the camera-like JPEGs of the benchmarks, made once per
// process: a 640x480 q85 one (the dataset mode's picture,
// scripts/bench/bench_dataset.sh) and a 4032x3024 q90 one (a phone camera's,
// scripts/bench/bench_images.sh), both 4:2:0.
var benchPictures = sync.OnceValue(func() (p [2]benchPicture) {
	p[0] = benchPicture{name: "640x480", data: cameraJPEG(640, 480, 85, 4, 1)}
	p[1] = benchPicture{name: "4032x3024", data: cameraJPEG(4032, 3024, 90, 10, 1)}
	return p
})

type benchPicture struct {
	name string
	data []byte
}

// BenchmarkPrepare: Prepare (read the file, decode, resize to 224x224
// bilinear) of each of benchPictures in each pipeline. cpu-ms/op is the
// CPU time of the whole process per call (all its goroutines: what the
// call costs the other work of a busy machine, as in the dataset mode).
func BenchmarkPrepare(b *testing.B) {
	dir := b.TempDir()
	for _, pic := range benchPictures() {
		path := filepath.Join(dir, pic.name+".jpg")
		if err := os.WriteFile(path, pic.data, 0o644); err != nil {
			b.Fatal(err)
		}
		for _, p := range pipelines {
			b.Run(fmt.Sprintf("%s/%s", pic.name, p), func(b *testing.B) {
				opts := Options{Pipeline: p, Interp: Bilinear, Size: Size{Mode: ResizeSquare, W: 224, H: 224}}
				b.ReportAllocs()
				cpu0, ok := processCPU()
				for b.Loop() {
					if _, err := Prepare(path, opts); err != nil {
						b.Fatal(err)
					}
				}
				if cpu1, _ := processCPU(); ok {
					b.ReportMetric(float64(cpu1-cpu0)/1e6/float64(b.N), "cpu-ms/op")
				}
			})
		}
	}
}

// BenchmarkResizeTo224: the resize stage alone, 224x224 from each of
// benchPictures decoded, in each pipeline and interpolation.
func BenchmarkResizeTo224(b *testing.B) {
	for _, pic := range benchPictures() {
		for _, p := range pipelines {
			src, err := DecodeAs(pic.data, p)
			if err != nil {
				b.Fatal(err)
			}
			for _, in := range interps {
				b.Run(fmt.Sprintf("%s/%s/%s", pic.name, p, in), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := src.ResizeAs(p, in, 224, 224); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
