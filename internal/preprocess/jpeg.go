package preprocess

import (
	"encoding/binary"

	"github.com/glipctl/glipctl/internal/jpeg"
)

// decodeJPEG decodes a JPEG file for pipeline p: 8-bit BGR as that
// library's decoder gives it, and the EXIF orientation of the file (0 when
// it has none; the CV2 pipeline applies it). It is the one place the JPEG
// decoder is chosen: internal/jpeg, which returns libjpeg-turbo's pixels
// (islow IDCT, fancy upsampling), the bytes PIL and OpenCV both decode to;
// the two pipelines differ only for CMYK/YCCK files, which each library
// converts to RGB its own way. A colour file is decoded straight to B,G,R
// into buf when buf is large enough. The orientation is read with OpenCV's
// rules (exif.go), which decide what cv2.imread rotates.
func decodeJPEG(data []byte, p Pipeline, buf []byte) (*Image, int, error) {
	cfg, err := jpeg.DecodeConfig(data)
	if err != nil {
		return nil, 0, err
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, 0, err
	}
	m, err := jpeg.DecodeWith(data, jpeg.Options{BGR: true, Pix: buf})
	if err != nil {
		return nil, 0, err
	}
	out := &Image{W: m.Width, H: m.Height}
	switch {
	case p == CV2 || m.Channels == 3:
		// A three-channel image is B,G,R already, for both.
		out.Pix = m.BGR()
	default:
		// Gray, or CMYK through PIL's conversion.
		rgb := m.RGB()
		out.Pix = make([]uint8, len(rgb))
		for i := 0; i+2 < len(rgb); i += 3 {
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = rgb[i+2], rgb[i+1], rgb[i]
		}
	}
	return out, exifOrientation(jpegEXIF(data)), nil
}

// jpegEXIF returns the EXIF block cv2.imread takes the orientation from,
// or nil: OpenCV 4.6 has libjpeg save the APP1 segments before the first
// scan and parses the first of them, whatever it holds, from its seventh
// byte (past the "Exif\0\0" an Exif segment starts with), when it is
// longer than 6 bytes (JpegDecoder::readHeader, modules/imgcodecs/src/
// grfmt_jpeg.cpp). So an XMP packet in an APP1 before the Exif segment
// hides the Exif one: cv2.imread then rotates nothing
// (TestCV2OrientationFirstAPP1 checks this against python3-opencv).
func jpegEXIF(data []byte) []byte {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xff {
			return nil
		}
		marker := data[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		if marker == 0xda || marker == 0xd9 { // SOS, EOI
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return nil
		}
		if marker == 0xe1 {
			if seg := data[i+4 : i+2+n]; len(seg) > 6 {
				return seg[6:]
			}
			return nil
		}
		i += 2 + n
	}
	return nil
}
