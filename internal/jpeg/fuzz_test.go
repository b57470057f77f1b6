package jpeg

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to DecodeConfig and Decode: either a
// one-line *Error or an image whose buffers match its header, never a
// panic; and DecodeWith on two goroutines in B,G,R order into a used
// buffer fails alike or gives the same samples. Images over 2^18 pixels
// are not decoded, as the caller's size limit would refuse them.
func FuzzDecode(f *testing.F) {
	for _, data := range fixtureFiles(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkErr := func(err error) {
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if je.Offset < 0 || je.Offset > len(data) {
				t.Fatalf("offset %d outside 0..%d: %v", je.Offset, len(data), err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 200 {
				t.Fatalf("error not one short line: %q", msg)
			}
		}
		cfg, err := DecodeConfig(data)
		if err != nil {
			checkErr(err)
			return
		}
		if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxDimension || cfg.Height > maxDimension {
			t.Fatalf("config %+v", cfg)
		}
		if cfg.Width*cfg.Height > 1<<18 {
			return
		}
		img, err := Decode(data)
		alt, altErr := DecodeWith(data, Options{BGR: true, Workers: 2, Pix: bytes.Repeat([]byte{0x5A}, 3<<18)})
		if (err == nil) != (altErr == nil) {
			t.Fatalf("Decode: %v; DecodeWith on 2 goroutines, B,G,R: %v", err, altErr)
		}
		if err != nil {
			checkErr(err)
			checkErr(altErr)
			return
		}
		if !bytes.Equal(img.RGB(), alt.RGB()) || !bytes.Equal(img.BGR(), alt.BGR()) {
			t.Fatalf("DecodeWith on 2 goroutines, B,G,R: other samples than Decode")
		}
		if img.Config != cfg {
			t.Fatalf("Decode config %+v, DecodeConfig %+v", img.Config, cfg)
		}
		n := img.Width * img.Height
		if len(img.Pix) != n*img.Channels || len(img.RGB()) != 3*n || len(img.BGR()) != 3*n {
			t.Fatalf("buffers do not match %dx%dx%d", img.Width, img.Height, img.Channels)
		}
	})
}
