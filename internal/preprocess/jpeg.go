package preprocess

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
)

// decodeJPEG decodes a JPEG file for pipeline p: 8-bit BGR as that
// library's decoder gives it, and the EXIF orientation of the file (0 when
// it has none). It is the one place the JPEG decoder is chosen.
//
// Go's image/jpeg stands in for now, for both pipelines: its IDCT and
// chroma upsampling are not libjpeg's (PIL and OpenCV both use libjpeg), so
// JPEG pixels can differ from either library's by a few levels, and more at
// sharp colour edges. PNG is exact.
var decodeJPEG = decodeJPEGStd

func decodeJPEGStd(data []byte, p Pipeline) (*Image, int, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, 0, err
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, 0, err
	}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, err
	}
	return FromImage(m), exifOrientation(jpegEXIF(data)), nil
}

// jpegEXIF returns the TIFF block of the first APP1 segment that starts
// with "Exif\0\0" before the first scan, or nil.
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
		seg := data[i+4 : i+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}
