package preprocess

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngGray is the PNG colour type (IHDR) of grey without alpha.
const pngGray = 0

// decodePNG decodes a PNG file for pipeline p and returns the EXIF
// orientation of its eXIf chunk (0 when there is none). Go's image/png
// decodes the samples exactly; the conversion to 8-bit BGR is the
// library's.
func decodePNG(data []byte, p Pipeline) (*Image, int, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, 0, err
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, 0, err
	}
	// DecodeConfig has read a well-formed IHDR as the first chunk.
	depth, colorType := data[24], data[25]
	m, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, err
	}
	var img *Image
	if colorType == pngGray && depth == 16 {
		img = gray16BGR(m, p)
	} else {
		// Both libraries drop alpha, expand palettes (tRNS ignored),
		// replicate grey, scale 1/2/4-bit grey by 255/85/17 and keep the
		// high byte of 16-bit samples: FromImage's rules.
		img = FromImage(m)
	}
	orientation := 0
	if p == CV2 {
		orientation = exifOrientation(pngEXIf(data))
	}
	return img, orientation, nil
}

// gray16BGR converts 16-bit grey: PIL (mode "I", then convert("RGB"))
// clips the value to 255; OpenCV (png_set_strip_16) keeps its high byte.
// With a tRNS chunk Go decodes it as NRGBA64 with the grey in R, G and B.
func gray16BGR(m image.Image, p Pipeline) *Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var v uint16
			switch src := m.(type) {
			case *image.Gray16:
				v = src.Gray16At(b.Min.X+x, b.Min.Y+y).Y
			case *image.NRGBA64:
				v = src.NRGBA64At(b.Min.X+x, b.Min.Y+y).R
			default:
				r, _, _, _ := m.At(b.Min.X+x, b.Min.Y+y).RGBA()
				v = uint16(r)
			}
			g := uint8(v >> 8)
			if p == PIL {
				g = uint8(min(v, 255))
			}
			i := (y*w + x) * 3
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = g, g, g
		}
	}
	return out
}

// pngEXIf returns the payload of the eXIf chunk libpng keeps: the first
// one at least 2 bytes long that starts with "II" or "MM" (libpng drops
// others as benign errors). nil when there is none. Chunk CRCs are checked
// by the decoder, not here.
func pngEXIf(data []byte) []byte {
	rest := data[len(pngSignature):]
	for len(rest) >= 12 {
		n := binary.BigEndian.Uint32(rest)
		typ := string(rest[4:8])
		if uint64(n) > uint64(len(rest)-12) {
			return nil
		}
		body := rest[8 : 8+n]
		switch typ {
		case "eXIf":
			if len(body) >= 2 && body[0] == body[1] && (body[0] == 'I' || body[0] == 'M') {
				return body
			}
		case "IEND":
			return nil
		}
		rest = rest[12+n:]
	}
	return nil
}
