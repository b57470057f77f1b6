// Package jpeg decodes baseline, extended and progressive JPEG (JFIF, Adobe
// and EXIF) files to the exact samples that libjpeg-turbo 2.1 produces with
// its default decompression parameters: the accurate integer inverse DCT
// ("islow"), fancy upsampling, block smoothing off for complete progressive
// files, and the YCbCr, YCCK and grayscale conversions of jdcolor.c.
//
// Decode returns an Image holding libjpeg's output colour space: one sample
// per pixel for a grayscale file, R,G,B for a YCbCr or RGB file and C,M,Y,K
// for an Adobe CMYK or YCCK file (YCCK converted to CMYK, the samples as
// libjpeg stores them, Adobe-inverted). Image.RGB gives what Pillow's
// Image.open(p).convert("RGB") gives and Image.BGR what OpenCV's
// cv2.imread(p, cv2.IMREAD_COLOR) gives before it applies the EXIF
// orientation; the two differ only for four-component files, which Pillow
// and OpenCV turn into RGB with different formulas.
//
// Component sampling follows jdsample.c: a component upsampled 2:1
// horizontally, 2:1 in both directions or 2:1 vertically gets the triangle
// ("fancy") filter, except that the horizontal filters fall back to sample
// replication when the component is at most two samples wide; any other
// integral ratio replicates samples; a non-integral ratio is refused, as
// libjpeg refuses it. Arithmetic-coded files are decoded as jdarith.c
// decodes them. 12-bit, 16-bit and lossless files, DNL-defined heights and
// files of two components are refused.
//
// Decode shares the work on an image of at least ParallelPixels pixels
// among every core and decodes a smaller one on the calling goroutine
// alone. DecodeWith can set
// the goroutines, store B,G,R instead of R,G,B and write into a caller's
// buffer (Options); no option changes a sample.
//
// The decoder never panics on bad input: a truncated or corrupt stream gives
// an *Error naming the byte offset. Memory is proportional to the dimensions
// declared in the frame header, which DecodeConfig reads without decoding so
// that a caller can refuse an image before Decode allocates for it. Where
// libjpeg only warns about corrupt entropy-coded data and goes on with
// zeros, this package stops with an error.
package jpeg

import (
	"fmt"
)

// ColorSpace is the colour space of the coded components, as libjpeg guesses
// it from the JFIF and Adobe markers and the component identifiers.
type ColorSpace int

const (
	Gray  ColorSpace = iota + 1 // one component
	YCbCr                       // three components, converted to RGB
	RGB                         // three components stored as R, G, B
	CMYK                        // four components stored as (inverted) C, M, Y, K
	YCCK                        // four components, converted to CMYK
)

func (c ColorSpace) String() string {
	switch c {
	case Gray:
		return "gray"
	case YCbCr:
		return "YCbCr"
	case RGB:
		return "RGB"
	case CMYK:
		return "CMYK"
	case YCCK:
		return "YCCK"
	}
	return fmt.Sprintf("ColorSpace(%d)", int(c))
}

// Config is what the headers declare, read without decoding any scan.
type Config struct {
	Width, Height int
	Components    int // 1, 3 or 4
	ColorSpace    ColorSpace
	Progressive   bool
	Arithmetic    bool
	// Orientation is the EXIF orientation (1-8) of the first APP1 segment
	// when that segment is EXIF; 1 when absent or out of range.
	Orientation int
}

// Image is a decoded JPEG in libjpeg's output colour space.
type Image struct {
	Config
	// Channels is 1 (gray), 3 (R,G,B, or B,G,R when BGROrder is set) or 4
	// (C,M,Y,K, Adobe-inverted as libjpeg returns them).
	Channels int
	// BGROrder is set when Pix holds a three-channel image as B,G,R
	// (Options.BGR).
	BGROrder bool
	// Pix holds Height rows of Width*Channels interleaved samples.
	Pix []byte
}

// Options are the choices of DecodeWith, none of which changes a sample.
type Options struct {
	// BGR stores a three-channel image as B,G,R (libjpeg's JCS_EXT_BGR,
	// OpenCV's order) rather than R,G,B. Gray and four-channel images are
	// stored as without it.
	BGR bool
	// Workers is how many goroutines decode (the caller's included). 0
	// chooses: every core (GOMAXPROCS) for an image of at least
	// ParallelPixels pixels, the calling goroutine alone for a smaller
	// one, whose rows are too few to share.
	Workers int
	// Pix, when its capacity holds the image, becomes the image's Pix (the
	// decoder writes every byte of it), so that a caller decoding many
	// images can reuse one buffer.
	Pix []byte
}

// ParallelPixels is the size from which Decode spreads an image over the
// cores (Options.Workers 0).
const ParallelPixels = 1 << 20

// Error is a decoding failure at a byte offset of the input.
type Error struct {
	Offset int
	// Unsupported is true for a valid file this decoder does not handle
	// (12-bit, lossless, DNL, a sampling ratio libjpeg refuses).
	Unsupported bool
	Msg         string
}

func (e *Error) Error() string {
	if e.Unsupported {
		return fmt.Sprintf("jpeg: unsupported: %s (at byte %d)", e.Msg, e.Offset)
	}
	return fmt.Sprintf("jpeg: %s (at byte %d)", e.Msg, e.Offset)
}

// RGB returns the image as interleaved 8-bit R,G,B, as Pillow's
// Image.convert("RGB") gives it: gray replicated, CMYK through Pillow's
// cmyk2rgb after its Adobe inversion. For a three-channel image in R,G,B
// order it returns Pix itself, not a copy.
func (m *Image) RGB() []byte {
	n := m.Width * m.Height
	if m.Channels == 3 && !m.BGROrder {
		return m.Pix[:3*n]
	}
	out := make([]byte, 3*n)
	switch m.Channels {
	case 3:
		swapRB(out, m.Pix[:3*n])
	case 1:
		for i, g := range m.Pix[:n] {
			out[3*i], out[3*i+1], out[3*i+2] = g, g, g
		}
	case 4:
		// Pillow reads the samples as "CMYK;I" (inverted), then
		// cmyk2rgb: nk = 255 - k; v = clip(nk - muldiv255(c, nk)).
		// With the inversion, nk is libjpeg's K and c is 255 - C.
		for i := 0; i < n; i++ {
			p := m.Pix[4*i : 4*i+4 : 4*i+4]
			nk := int(p[3])
			for j := 0; j < 3; j++ {
				t := (255-int(p[j]))*nk + 128
				v := nk - ((t>>8)+t)>>8
				if v < 0 {
					v = 0
				}
				out[3*i+j] = byte(v)
			}
		}
	}
	return out
}

// BGR returns the image as interleaved 8-bit B,G,R, as OpenCV's imread with
// IMREAD_COLOR gives it before any EXIF rotation: gray replicated, CMYK
// through OpenCV's icvCvt_CMYK2BGR_8u_C4C3R. For a three-channel image in
// B,G,R order (Options.BGR) it returns Pix itself, not a copy.
func (m *Image) BGR() []byte {
	n := m.Width * m.Height
	if m.Channels == 3 && m.BGROrder {
		return m.Pix[:3*n]
	}
	out := make([]byte, 3*n)
	switch m.Channels {
	case 1:
		for i, g := range m.Pix[:n] {
			out[3*i], out[3*i+1], out[3*i+2] = g, g, g
		}
	case 3:
		swapRB(out, m.Pix[:3*n])
	case 4:
		// OpenCV: v = k - ((255 - v) * k >> 8), written B=y, G=m, R=c.
		for i := 0; i < n; i++ {
			p := m.Pix[4*i : 4*i+4 : 4*i+4]
			k := int(p[3])
			out[3*i+2] = byte(k - ((255-int(p[0]))*k)>>8)
			out[3*i+1] = byte(k - ((255-int(p[1]))*k)>>8)
			out[3*i+0] = byte(k - ((255-int(p[2]))*k)>>8)
		}
	}
	return out
}

// swapRB writes the 3-sample pixels of src to dst with their first and
// last samples swapped.
func swapRB(dst, src []byte) {
	d, s := pixels(dst), pixels(src)
	d = d[:len(s)]
	for i := range s {
		p, q := &s[i], &d[i]
		q[0], q[1], q[2] = p[2], p[1], p[0]
	}
}

// DecodeConfig reads the headers up to the first scan and returns what they
// declare, without allocating anything sized by them.
func DecodeConfig(data []byte) (Config, error) {
	d := &decoder{data: data}
	if err := d.readHeaders(); err != nil {
		return Config{}, err
	}
	return d.config(), nil
}

// Decode decodes a whole JPEG file. Call DecodeConfig first to apply an
// image-size limit: Decode allocates in proportion to Width*Height.
func Decode(data []byte) (*Image, error) {
	return DecodeWith(data, Options{})
}

// DecodeWith is Decode with opts. The samples are the same for any
// options; only their order (BGR), the goroutines that compute them and the
// memory they are written to differ.
func DecodeWith(data []byte, opts Options) (*Image, error) {
	d := &decoder{data: data, opts: opts}
	return d.decode()
}
