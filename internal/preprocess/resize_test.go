package preprocess

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// TestResizeSpreadAgrees: PIL's resize gives the same bytes with its rows
// on one goroutine as split among 2, 3, 4 or GOMAXPROCS of them (split
// even where the image is too small to be split by default), on sizes
// that leave odd rows and uneven chunks (1xN, Nx1, primes), under
// GOMAXPROCS 1, 2 and 3. The one-goroutine bytes are PIL's
// (TestPipelinesMatchLibraries).
func TestResizeSpreadAgrees(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	sources := []struct{ w, h int }{{1, 1}, {1, 97}, {97, 1}, {2, 3}, {131, 67}, {1031, 13}, {640, 480}}
	targets := [][2]int{{1, 1}, {1, 53}, {53, 1}, {3, 2}, {61, 127}, {224, 224}, {1031, 7}}
	type job struct {
		name   string
		src    *Image
		w, h   int
		interp Interp
	}
	var jobs []job
	for i, s := range sources {
		src, err := DecodeAs(noisePNG(t, s.w, s.h, uint64(i)), PIL)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets {
			for _, in := range interps {
				jobs = append(jobs, job{fmt.Sprintf("%dx%d->%dx%d/%s", s.w, s.h, tg[0], tg[1], in), src, tg[0], tg[1], in})
			}
		}
	}
	serial := make([][]byte, len(jobs))
	for i, j := range jobs {
		m, err := j.src.resizePILOn(spread{workers: 1}, j.w, j.h, j.interp)
		if err != nil {
			t.Fatal(err)
		}
		serial[i] = m.Pix
	}
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		for _, sp := range []spread{{}, {always: true}, {workers: 2, always: true}, {workers: 3, always: true}, {workers: 4, always: true}} {
			for i, j := range jobs {
				m, err := j.src.resizePILOn(sp, j.w, j.h, j.interp)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(m.Pix, serial[i]) {
					t.Errorf("%s, GOMAXPROCS %d, %+v: not the bytes of one goroutine", j.name, procs, sp)
				}
			}
		}
	}
}
