package preprocess

import "encoding/binary"

// exifOrientation returns the Orientation tag (0x0112) of a TIFF-structured
// EXIF block (starting at its byte-order mark) as OpenCV 4.6's ExifReader
// finds it, or 0 when it finds none:
//
//   - byte order little-endian when the block starts with "II", big-endian
//     otherwise; the 16-bit value at offset 2 must be 42;
//   - IFD0 at the 32-bit offset at 4; its entries (count, then 12 bytes
//     each) are read in order, and the first Orientation entry's value is
//     the 16-bit integer at its value field (entry offset 8), whatever its
//     declared type and count;
//   - a read past the end of the block ends the walk (OpenCV throws and
//     keeps the entries read so far); so do the out-of-bounds checks
//     OpenCV makes while reading the string and rational tags it knows.
//
// Offsets wrap at 32 bits where OpenCV's do.
func exifOrientation(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	var bo binary.ByteOrder = binary.BigEndian
	if len(b) >= 1 && b[0] == 'I' && (len(b) == 1 || b[1] == 'I') {
		bo = binary.LittleEndian
	}
	size := uint64(len(b))
	ok := true
	u16 := func(off uint64) uint64 {
		if !ok || off+1 >= size {
			ok = false
			return 0
		}
		return uint64(bo.Uint16(b[off:]))
	}
	u32 := func(off uint64) uint64 {
		if !ok || off+3 >= size {
			ok = false
			return 0
		}
		return uint64(bo.Uint32(b[off:]))
	}
	if u16(2) != 0x2a || !ok {
		return 0
	}
	offset := uint32(u32(4))
	n := u16(uint64(offset))
	offset += 2
	orientation := 0
	for e := uint64(0); ok && e < n; e++ {
		off := uint64(offset)
		tag := u16(off)
		if !ok {
			break
		}
		switch tag {
		case 0x0112: // Orientation
			v := u16(off + 8)
			if ok && orientation == 0 {
				orientation = int(v)
				if orientation == 0 {
					orientation = -1 // present, but no transform
				}
			}
		case 0x010e, 0x010f, 0x0110, 0x0131, 0x0132, 0x8298: // strings
			cnt := u32(off + 4)
			data := uint64(8)
			if cnt > 4 {
				data = u32(off + 8)
			}
			if ok && (data > size || data+cnt > size) {
				ok = false
			}
		case 0x011a, 0x011b: // X/YResolution: one rational
			exifRationals(u32, uint32(u32(off+8)), 1)
		case 0x013e: // WhitePoint
			exifRationals(u32, uint32(u32(off+8)), 2)
		case 0x013f, 0x0214: // PrimaryChromaticities, ReferenceBlackWhite
			exifRationals(u32, uint32(u32(off+8)), 6)
		case 0x0211: // YCbCrCoefficients
			exifRationals(u32, uint32(u32(off+8)), 3)
		case 0x0128, 0x0213: // ResolutionUnit, YCbCrPositioning
			u16(off + 8)
		}
		offset += 12
	}
	if orientation < 0 {
		return 0
	}
	return orientation
}

// exifRationals reads n rationals at off as OpenCV does (for its bounds
// checks only), the offset wrapping at 32 bits.
func exifRationals(u32 func(uint64) uint64, off uint32, n int) {
	for i := 0; i < n; i++ {
		u32(uint64(off))
		u32(uint64(off) + 4)
		off += 8
	}
}

// orient applies an EXIF orientation (1-8) as OpenCV's ExifTransform does:
// 2 flips left-right, 3 turns by 180 degrees, 4 flips top-bottom, 5
// transposes, 6 transposes and flips left-right (90 degrees clockwise), 7
// transposes and turns by 180 degrees, 8 transposes and flips top-bottom
// (90 degrees counter-clockwise). Other values leave m as it is.
func (m *Image) orient(o int) *Image {
	if o < 2 || o > 8 {
		return m
	}
	transpose := o >= 5
	flipH := o == 2 || o == 3 || o == 6 || o == 7
	flipV := o == 3 || o == 4 || o == 7 || o == 8
	w, h := m.W, m.H
	if transpose {
		w, h = h, w
	}
	out := &Image{W: w, H: h, Pix: make([]uint8, len(m.Pix))}
	for oy := 0; oy < h; oy++ {
		ty := oy
		if flipV {
			ty = h - 1 - oy
		}
		for ox := 0; ox < w; ox++ {
			tx := ox
			if flipH {
				tx = w - 1 - ox
			}
			sx, sy := tx, ty
			if transpose {
				sx, sy = ty, tx
			}
			s := (sy*m.W + sx) * 3
			d := (oy*w + ox) * 3
			copy(out.Pix[d:d+3], m.Pix[s:s+3])
		}
	}
	return out
}
