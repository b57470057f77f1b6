// Package preprocess turns image files into the normalised input tensors
// of the GLIP Swin backbone, bit for bit as one of two Python pipelines
// does (Pipeline):
//
//   - PIL, the GLIP reference: Image.open(p).convert("RGB") (no EXIF
//     rotation), Image.resize((w, h), BILINEAR or BICUBIC) (antialiased
//     when shrinking), numpy BGR order;
//   - CV2, mmpretrain's and mmcv's: cv2.imread(p, cv2.IMREAD_COLOR) (EXIF
//     orientation applied), cv2.resize(img, (w, h), interpolation=
//     INTER_LINEAR or INTER_CUBIC) as OpenCV 4.6 computes it on x86-64.
//
// Both end in (pixel - mean) / std per channel in float32 (Normalize).
// Prepare runs a whole pipeline on a file (Options: pipeline,
// interpolation, Size). PNG is decoded exactly and converted to 8-bit as
// each library does; JPEG goes through decodeJPEG. The package also reads
// already normalised inputs from .npy files.
//
// Work is shared among the cores only where an image is large enough to
// pay for it (the JPEG decoder's rows, PIL's resize passes), so that many
// small images prepared at once, one per goroutine, each stay on theirs;
// Prepare reuses the pixel buffers of the images it has resized. Neither
// changes a byte of any result.
package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// MeanBGR and StdBGR are the GLIP models' normalisation constants (glip-facts
// section 1), in BGR order: channel 0 of the input is blue.
var (
	MeanBGR = [3]float32{103.53, 116.28, 123.675}
	StdBGR  = [3]float32{57.375, 57.12, 58.395}
)

// MaxPixels bounds the size of an image glipctl decodes (checked from the
// header before any pixel is allocated).
const MaxPixels = 1 << 28

// Image is an 8-bit BGR image: Pix holds H rows of W pixels of 3 bytes
// (blue, green, red).
type Image struct {
	W, H int
	Pix  []uint8
}

// Load decodes a JPEG or PNG file into BGR as the PIL pipeline does
// (Read(path, PIL)).
//
// Colour handling follows PIL's convert("RGB"): alpha is dropped, not
// composited (the stored colour of a transparent pixel is kept); grey is
// replicated; palette images take their palette colours; 16-bit colour
// channels keep their high byte; 16-bit grey is clipped to 255 (PIL goes
// through its 32-bit integer mode). EXIF orientation is not applied
// (neither does PIL's Image.open). See DecodeAs for JPEG.
func Load(path string) (*Image, error) {
	return Read(path, PIL)
}

// Decode reads a JPEG or PNG image from r as the PIL pipeline does (see
// Load).
func Decode(r io.Reader) (*Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return DecodeAs(data, PIL)
}

// DecodeAs decodes a JPEG or PNG file's contents into 8-bit BGR as
// pipeline p's library does.
//
// PNG (decoded exactly) for PIL: see Load. For CV2, as cv2.imread with
// IMREAD_COLOR (libpng with strip_16, strip_alpha, palette_to_rgb,
// expand_gray_1_2_4_to_8, gray_to_rgb): every 16-bit sample keeps its high
// byte (grey too), alpha is dropped, palettes are expanded, grey is
// replicated; and the EXIF orientation of an eXIf chunk is applied (see
// exifOrientation, orient).
//
// JPEG: see decodeJPEG; CV2 applies the EXIF orientation of its APP1
// segment.
//
// The header's size is checked against MaxPixels before any pixel is
// allocated.
func DecodeAs(data []byte, p Pipeline) (*Image, error) {
	return decodeAs(data, p, nil)
}

// decodeAs is DecodeAs, decoding a JPEG's pixels into buf when it is large
// enough.
func decodeAs(data []byte, p Pipeline, buf []byte) (*Image, error) {
	if p != PIL && p != CV2 {
		return nil, fmt.Errorf("unknown preprocessing pipeline %v", p)
	}
	var (
		img         *Image
		orientation int
		err         error
	)
	switch {
	case bytes.HasPrefix(data, []byte(pngSignature)):
		img, orientation, err = decodePNG(data, p)
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		img, orientation, err = decodeJPEG(data, p, buf)
	default:
		return nil, errors.New("not a JPEG or PNG image")
	}
	if err != nil {
		return nil, err
	}
	if p == CV2 {
		img = img.orient(orientation)
	}
	return img, nil
}

// checkSize refuses an image header's size that is empty or above
// MaxPixels.
func checkSize(w, h int) error {
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("image size %dx%d is empty or too large", w, h)
	}
	return nil
}

// FromImage converts a decoded image to BGR with PIL's convert("RGB")
// rules (see Load).
func FromImage(m image.Image) *Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	put := func(x, y int, r, g, bl uint8) {
		i := (y*w + x) * 3
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = bl, g, r
	}
	switch src := m.(type) {
	case *image.RGBA:
		// Go's PNG decoder returns RGBA only for opaque images, where
		// premultiplied and straight colours agree.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := src.RGBAAt(b.Min.X+x, b.Min.Y+y)
				put(x, y, c.R, c.G, c.B)
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := src.NRGBAAt(b.Min.X+x, b.Min.Y+y)
				put(x, y, c.R, c.G, c.B)
			}
		}
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := src.RGBA64At(b.Min.X+x, b.Min.Y+y)
				put(x, y, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := src.NRGBA64At(b.Min.X+x, b.Min.Y+y)
				put(x, y, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := src.GrayAt(b.Min.X+x, b.Min.Y+y).Y
				put(x, y, v, v, v)
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := uint8(min(src.Gray16At(b.Min.X+x, b.Min.Y+y).Y, 255))
				put(x, y, v, v, v)
			}
		}
	case *image.Paletted:
		pal := make([][3]uint8, len(src.Palette))
		for i, c := range src.Palette {
			pal[i] = straightRGB(c)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := pal[src.ColorIndexAt(b.Min.X+x, b.Min.Y+y)]
				put(x, y, p[0], p[1], p[2])
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := src.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := src.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				put(x, y, r, g, bl)
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := straightRGB(m.At(b.Min.X+x, b.Min.Y+y))
				put(x, y, c[0], c[1], c[2])
			}
		}
	}
	return out
}

// straightRGB returns a colour's non-premultiplied 8-bit RGB.
func straightRGB(c color.Color) [3]uint8 {
	switch v := c.(type) {
	case color.NRGBA:
		return [3]uint8{v.R, v.G, v.B}
	case color.RGBA:
		if v.A == 0xff || v.A == 0 {
			return [3]uint8{v.R, v.G, v.B}
		}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}

// Normalize returns the image as a (3, H, W) float32 tensor, channel c
// being (pixel[c] - mean[c]) / std[c] computed in float32 (as numpy does
// on float32 arrays), with channels in BGR order.
func (m *Image) Normalize(mean, std [3]float32) []float32 {
	// A pixel value is one of 256: each channel's results are computed
	// once, by the same float32 operations, and looked up.
	var table [3][256]float32
	for c := range table {
		for v := range table[c] {
			table[c][v] = (float32(v) - mean[c]) / std[c]
		}
	}
	n := m.W * m.H
	out := make([]float32, 3*n)
	b, g, r := out[:n], out[n:2*n], out[2*n:]
	for i, p := range pixels(m.Pix[:3*n]) {
		b[i], g[i], r[i] = table[0][p[0]], table[1][p[1]], table[2][p[2]]
	}
	return out
}
