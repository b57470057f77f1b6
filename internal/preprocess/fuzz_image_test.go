package preprocess

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeAs: any bytes give an image or an error for both pipelines,
// never a panic; an image has the size its pixels say and at most
// MaxPixels. The committed corpus seeds it.
func FuzzDecodeAs(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "images", "*"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil && len(data) < 4096 {
			f.Add(data)
		}
	}
	f.Add([]byte(pngSignature))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x10, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range pipelines {
			m, err := DecodeAs(data, p)
			if err != nil {
				continue
			}
			if m.W <= 0 || m.H <= 0 || int64(m.W)*int64(m.H) > MaxPixels || len(m.Pix) != m.W*m.H*3 {
				t.Fatalf("%s: %dx%d with %d bytes", p, m.W, m.H, len(m.Pix))
			}
		}
	})
}

// FuzzEXIFOrientation: any EXIF block gives an orientation of 0-65535 and
// never a panic (reads are bounds-checked, offsets wrap at 32 bits).
func FuzzEXIFOrientation(f *testing.F) {
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"))
	f.Add([]byte("II*\x00\xff\xff\xff\xff"))
	f.Add([]byte("II*\x00\x08\x00\x00\x00\xff\xff\x1a\x01\x05\x00\x01\x00\x00\x00\xf8\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := exifOrientation(b); o < 0 || o > 0xffff {
			t.Fatalf("orientation %d", o)
		}
		jpegEXIF(append([]byte{0xff, 0xd8}, b...))
		pngEXIf(append([]byte(pngSignature), b...))
	})
}
