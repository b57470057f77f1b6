package jpeg

import "encoding/binary"

// Standard Huffman tables (ITU T.81 K.3), which libjpeg installs for tables
// 0 and 1 of a sequential file that defines none (Motion-JPEG frames).
var (
	stdDCLumCounts   = [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}
	stdDCLumSymbols  = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	stdDCChrCounts   = [16]byte{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}
	stdDCChrSymbols  = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	stdACLumCounts   = [16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d}
	stdACLumSymbols  = []byte{0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa}
	stdACChrCounts   = [16]byte{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}
	stdACChrSymbols  = []byte{0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa}
	stdTableCounts   = [2][2]*[16]byte{{&stdDCLumCounts, &stdDCChrCounts}, {&stdACLumCounts, &stdACChrCounts}}
	stdTablesSymbols = [2][2][]byte{{stdDCLumSymbols, stdDCChrSymbols}, {stdACLumSymbols, stdACChrSymbols}}
)

const lookBits = 9

// huffTable is a decoding table built as jdhuff.c's
// jpeg_make_d_derived_tbl builds it: a lookahead table for codes of up to
// lookBits bits and maxcode/valoffset for longer ones.
type huffTable struct {
	// look[bits] = length<<8 | symbol, 0 when the code is longer.
	look [1 << lookBits]uint16
	// fast[bits] = value<<16 | run<<8 | total length, for AC codes whose
	// code and magnitude bits together fit in lookBits; 0 otherwise.
	fast     [1 << lookBits]int32
	maxcode  [18]int32
	valoff   [18]int32
	symbols  [256]byte
	nsymbols int
}

func buildHuffTable(counts *[16]byte, symbols []byte, isDC bool) (*huffTable, string) {
	t := &huffTable{}
	n := 0
	for _, c := range counts {
		n += int(c)
	}
	if n > 256 || n > len(symbols) {
		return nil, "bad Huffman table"
	}
	copy(t.symbols[:], symbols[:n])
	t.nsymbols = n
	// Canonical codes (T.81 C.2), checking that none overflows its length.
	var huffcode [257]int32
	code, p := int32(0), 0
	for l := 1; l <= 16; l++ {
		for i := 0; i < int(counts[l-1]); i++ {
			huffcode[p] = code
			p++
			code++
		}
		if code > 1<<l {
			return nil, "bad Huffman table (code overflow)"
		}
		code <<= 1
	}
	p = 0
	for l := 1; l <= 16; l++ {
		if counts[l-1] != 0 {
			t.valoff[l] = int32(p) - huffcode[p]
			p += int(counts[l-1])
			t.maxcode[l] = huffcode[p-1]
		} else {
			t.maxcode[l] = -1
		}
	}
	t.maxcode[17] = 0x7FFFFFFF // sentinel: ends the slow search
	p = 0
	for l := 1; l <= lookBits; l++ {
		for i := 0; i < int(counts[l-1]); i, p = i+1, p+1 {
			lookbits := huffcode[p] << (lookBits - l)
			for ctr := int32(1) << (lookBits - l); ctr > 0; ctr-- {
				t.look[lookbits] = uint16(l)<<8 | uint16(symbols[p])
				lookbits++
			}
		}
	}
	for i := range t.look {
		e := t.look[i]
		if e == 0 {
			continue
		}
		l, sym := uint(e>>8), e&0xFF
		run, size := uint(sym>>4), uint(sym&15)
		if size == 0 || l+size > lookBits {
			continue
		}
		v := (int32(i) >> (lookBits - l - size)) & (1<<size - 1)
		t.fast[i] = extend(v, size)<<16 | int32(run)<<8 | int32(l+size)
	}
	if isDC {
		for _, s := range symbols[:n] {
			if s > 15 {
				return nil, "bad Huffman table (DC symbol > 15)"
			}
		}
	}
	return t, ""
}

// bitReader reads the entropy-coded segment of a scan: it removes stuffed
// zero bytes and stops at a marker, after which it supplies zero bits (and
// counts them, so that consuming any is an error).
type bitReader struct {
	data   []byte
	pos    int    // next byte to load
	acc    uint64 // bits, most significant first
	n      uint   // valid bits in acc
	padded uint   // of those, how many are zero padding past a marker
	marker bool   // reached a marker (or the end of the data)
}

func (b *bitReader) reset(data []byte, pos int) {
	*b = bitReader{data: data, pos: pos}
}

// fill loads bytes until at least 57 bits are in acc.
func (b *bitReader) fill() {
	if b.pos+8 <= len(b.data) && !b.marker {
		// Fast path: the next bytes hold no 0xFF, so no stuffing.
		v := binary.BigEndian.Uint64(b.data[b.pos:])
		k := (64 - b.n) >> 3 // whole bytes that fit
		// Zero bytes of ^v are 0xFF bytes of v; look at the first k only
		// (the test can flag a byte wrongly, never miss one).
		x := ^v
		if (x-0x0101010101010101)&^x&0x8080808080808080&(^uint64(0)<<(64-8*k)) == 0 {
			b.acc |= v >> (64 - 8*k) << (64 - b.n - 8*k)
			b.n += 8 * k
			b.pos += int(k)
			return
		}
	}
	for b.n <= 56 {
		if b.marker {
			b.padded += 64 - b.n
			b.n = 64
			return
		}
		if b.pos >= len(b.data) {
			b.marker = true
			continue
		}
		c := b.data[b.pos]
		if c == 0xFF {
			// FF 00 is a data FF; FF FF... is fill; FF xx is a marker.
			q := b.pos + 1
			for q < len(b.data) && b.data[q] == 0xFF {
				q++
			}
			if q >= len(b.data) || b.data[q] != 0 {
				b.pos = q - 1 // at the FF that starts the marker
				if q >= len(b.data) {
					b.pos = len(b.data)
				}
				b.marker = true
				continue
			}
			b.pos = q + 1
		} else {
			b.pos++
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun reports whether zero padding has been consumed.
func (b *bitReader) overrun() bool { return b.n < b.padded }

func (b *bitReader) bits(s uint) int32 {
	if s == 0 {
		return 0
	}
	if b.n < s {
		b.fill()
	}
	v := int32(b.acc >> (64 - s))
	b.acc <<= s
	b.n -= s
	return v
}

func (b *bitReader) bit() bool {
	if b.n < 1 {
		b.fill()
	}
	v := b.acc>>63 != 0
	b.acc <<= 1
	b.n--
	return v
}

// decode reads one Huffman-coded symbol; ok is false for a code that is in
// no table (libjpeg warns and returns symbol 0; this decoder stops).
func (b *bitReader) decode(t *huffTable) (byte, bool) {
	if b.n < 16 {
		b.fill()
	}
	e := t.look[b.acc>>(64-lookBits)]
	if e != 0 {
		l := uint(e >> 8)
		b.acc <<= l
		b.n -= l
		return byte(e), true
	}
	code := int32(b.acc >> (64 - lookBits - 1))
	l := lookBits + 1
	for code > t.maxcode[l] {
		l++
		if l > 16 {
			return 0, false
		}
		code = int32(b.acc >> (64 - uint(l)))
	}
	b.acc <<= uint(l)
	b.n -= uint(l)
	i := code + t.valoff[l]
	if i < 0 || int(i) >= t.nsymbols {
		return 0, false
	}
	return t.symbols[i], true
}

// extend turns the s-bit magnitude v into a signed value (T.81 F.2.2.1).
func extend(v int32, s uint) int32 {
	if s == 0 {
		return 0
	}
	if v < 1<<(s-1) {
		return v - (1 << s) + 1
	}
	return v
}
