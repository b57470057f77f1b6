package jpeg

import "encoding/binary"

// Marker codes (ITU T.81 table B.1).
const (
	mSOF0  = 0xC0
	mSOF1  = 0xC1
	mSOF2  = 0xC2
	mSOF3  = 0xC3
	mDHT   = 0xC4
	mSOF9  = 0xC9
	mSOF10 = 0xCA
	mDAC   = 0xCC
	mRST0  = 0xD0
	mRST7  = 0xD7
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mDQT   = 0xDB
	mDNL   = 0xDC
	mDRI   = 0xDD
	mAPP0  = 0xE0
	mAPP1  = 0xE1
	mAPP14 = 0xEE
)

const maxDimension = 65500 // libjpeg's JPEG_MAX_DIMENSION

type component struct {
	id     byte
	h, v   int
	tq     int
	index  int
	bw, bh int // blocks per row and column, padded to whole MCUs
	// Non-interleaved scans cover ceil(dw/8) x ceil(dh/8) blocks.
	dw, dh    int // downsampled width and height
	coefs     []int16
	ringRows  int    // >0: coefs holds only this many block rows, reused in turn
	plane     []byte // bw*8 by bh*8 samples, or planeRows rows reused in turn
	planeRows int
	quant     [64]int32
	latched   bool
	coefBits  [64]int // progressive: successive-approximation state, -1 = none yet
	sawDC     bool
}

type huffSpec struct {
	defined bool
	counts  [16]byte
	symbols [256]byte
	n       int
}

type decoder struct {
	data []byte
	pos  int
	opts Options

	sawSOI, sawSOF bool
	width, height  int
	precision      int
	progressive    bool
	arithmetic     bool
	comps          []component
	hmax, vmax     int
	mcusX, mcusY   int

	sawJFIF, sawAdobe bool
	adobeTransform    int
	sawAPP1           bool
	orientation       int

	quant      [4][64]uint16
	quantSet   [4]bool
	dcSpec     [4]huffSpec
	acSpec     [4]huffSpec
	dcTab      [4]*huffTable
	acTab      [4]*huffTable
	restart    int
	arithDCL   [16]byte
	arithDCU   [16]byte
	arithACK   [16]byte
	firstScan  bool
	scans      int
	streamed   bool // the whole image came in one interleaved sequential scan
	colorSpace ColorSpace
	cur        *scan
	pred       [4]int32
	eobrun     int
	arith      arithState
}

func (d *decoder) errf(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: sprintf(format, args...)}
}

func (d *decoder) unsupported(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: sprintf(format, args...), Unsupported: true}
}

// nextMarker finds the next marker at or after d.pos, skipping fill bytes
// (and, like libjpeg's next_marker, any garbage before them). It returns the
// marker code and leaves d.pos after it.
func (d *decoder) nextMarker() (byte, int, error) {
	for {
		if d.pos >= len(d.data) {
			return 0, d.pos, d.errf(d.pos, "unexpected end of file, no EOI marker")
		}
		if d.data[d.pos] != 0xFF {
			d.pos++
			continue
		}
		start := d.pos
		for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
			d.pos++
		}
		if d.pos >= len(d.data) {
			return 0, start, d.errf(d.pos, "unexpected end of file, no EOI marker")
		}
		c := d.data[d.pos]
		d.pos++
		if c == 0 {
			continue // stuffed zero outside a scan: garbage
		}
		return c, d.pos - 2, nil
	}
}

// segment returns the payload of a marker segment whose length field is at
// d.pos, and advances past it.
func (d *decoder) segment(marker byte) ([]byte, int, error) {
	if d.pos+2 > len(d.data) {
		return nil, d.pos, d.errf(d.pos, "truncated marker 0x%02X segment", marker)
	}
	n := int(binary.BigEndian.Uint16(d.data[d.pos:]))
	if n < 2 {
		return nil, d.pos, d.errf(d.pos, "bad length %d in marker 0x%02X segment", n, marker)
	}
	if d.pos+n > len(d.data) {
		return nil, d.pos, d.errf(d.pos, "truncated marker 0x%02X segment (length %d, %d bytes left)", marker, n, len(d.data)-d.pos)
	}
	start := d.pos + 2
	d.pos += n
	return d.data[start : start+n-2], start, nil
}

// readHeaders reads markers from SOI up to and including the first SOS
// header, leaving d.pos at the first entropy-coded byte.
func (d *decoder) readHeaders() error {
	d.orientation = 1
	for i := range d.arithDCU {
		d.arithDCL[i], d.arithDCU[i], d.arithACK[i] = 0, 1, 5
	}
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return d.errf(0, "not a JPEG file (no SOI marker)")
	}
	d.pos = 2
	d.sawSOI = true
	for {
		m, off, err := d.nextMarker()
		if err != nil {
			return err
		}
		done, err := d.handleMarker(m, off)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// handleMarker processes one marker; it reports true at an SOS (whose
// header it has read).
func (d *decoder) handleMarker(m byte, off int) (bool, error) {
	switch {
	case m == mSOI:
		return false, d.errf(off, "duplicate SOI marker")
	case m == mEOI:
		if !d.sawSOF {
			return false, d.errf(off, "EOI before any frame")
		}
		return false, d.errf(off, "EOI before the first scan")
	case m == mSOF0 || m == mSOF1 || m == mSOF2 || m == mSOF9 || m == mSOF10:
		return false, d.readSOF(m, off)
	case m == mSOF3 || (m >= 0xC5 && m <= 0xCF && m != mDHT && m != mDAC && m != 0xC8):
		if d.sawSOF {
			return false, d.errf(off, "duplicate SOF marker")
		}
		return false, d.unsupported(off, "JPEG process of SOF marker 0x%02X (lossless or hierarchical)", m)
	case m == mDHT:
		return false, d.readDHT(off)
	case m == mDQT:
		return false, d.readDQT(off)
	case m == mDRI:
		p, po, err := d.segment(m)
		if err != nil {
			return false, err
		}
		if len(p) != 2 {
			return false, d.errf(po, "bad DRI length")
		}
		d.restart = int(binary.BigEndian.Uint16(p))
	case m == mDAC:
		return false, d.readDAC(off)
	case m == mSOS:
		return true, d.readSOS(off)
	case m == mDNL:
		return false, d.unsupported(off, "DNL marker")
	case m >= mRST0 && m <= mRST7:
		return false, d.errf(off, "RST marker outside a scan")
	case m >= mAPP0 && m <= 0xEF || m == 0xFE:
		p, _, err := d.segment(m)
		if err != nil {
			return false, err
		}
		d.examineAPP(m, p)
	default:
		// Reserved markers with a length (JPG, JPGn, TEM excluded) are
		// skipped as libjpeg skips them; TEM (0x01) has no length.
		if m == 0x01 {
			return false, nil
		}
		if _, _, err := d.segment(m); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (d *decoder) examineAPP(m byte, p []byte) {
	switch m {
	case mAPP0:
		// libjpeg looks at the first 14 bytes: "JFIF\0" and a full header.
		if len(p) >= 14 && string(p[:5]) == "JFIF\x00" {
			d.sawJFIF = true
		}
	case mAPP14:
		if len(p) >= 12 && string(p[:5]) == "Adobe" {
			d.sawAdobe = true
			d.adobeTransform = int(p[11])
		}
	case mAPP1:
		// OpenCV reads the orientation from the first APP1 segment only.
		if d.sawAPP1 {
			return
		}
		d.sawAPP1 = true
		d.orientation = exifOrientation(p)
	}
}

// exifOrientation parses tag 0x0112 of IFD0 of an "Exif\0\0" APP1 payload;
// 1 when absent, malformed or out of 1-8.
func exifOrientation(p []byte) int {
	if len(p) < 6+8 || string(p[:6]) != "Exif\x00\x00" {
		return 1
	}
	t := p[6:]
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd > len(t)-2 {
		return 1
	}
	n := int(bo.Uint16(t[ifd:]))
	for i := 0; i < n; i++ {
		e := ifd + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		typ := bo.Uint16(t[e+2:])
		var v int
		switch typ {
		case 3: // SHORT
			v = int(bo.Uint16(t[e+8:]))
		case 4: // LONG
			v = int(bo.Uint32(t[e+8:]))
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return v
	}
	return 1
}

func (d *decoder) readSOF(m byte, off int) error {
	if d.sawSOF {
		return d.errf(off, "duplicate SOF marker")
	}
	p, po, err := d.segment(m)
	if err != nil {
		return err
	}
	if len(p) < 6 {
		return d.errf(po, "bad SOF length")
	}
	d.precision = int(p[0])
	d.height = int(binary.BigEndian.Uint16(p[1:]))
	d.width = int(binary.BigEndian.Uint16(p[3:]))
	nc := int(p[5])
	d.progressive = m == mSOF2 || m == mSOF10
	d.arithmetic = m == mSOF9 || m == mSOF10
	if d.precision != 8 {
		return d.unsupported(po, "%d-bit samples", d.precision)
	}
	if d.height == 0 {
		return d.unsupported(po+1, "image height 0 (DNL-defined height)")
	}
	if d.width == 0 {
		return d.errf(po+3, "image width 0")
	}
	if nc == 0 {
		return d.errf(po+5, "frame with no components")
	}
	if len(p) != 6+3*nc {
		return d.errf(po, "bad SOF length %d for %d components", len(p)+2, nc)
	}
	if d.width > maxDimension || d.height > maxDimension {
		return d.errf(po+1, "image %dx%d exceeds %d pixels per side", d.width, d.height, maxDimension)
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return d.unsupported(po+5, "%d components", nc)
	}
	d.comps = make([]component, nc)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		q := p[6+3*i:]
		c.id = q[0]
		c.h = int(q[1] >> 4)
		c.v = int(q[1] & 15)
		c.tq = int(q[2])
		c.index = i
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return d.errf(po+7+3*i, "bad sampling factors %dx%d", c.h, c.v)
		}
		if c.tq > 3 {
			return d.errf(po+8+3*i, "bad quantization table %d", c.tq)
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
		for k := range c.coefBits {
			c.coefBits[k] = -1
		}
	}
	d.mcusX = ceilDiv(d.width, 8*d.hmax)
	d.mcusY = ceilDiv(d.height, 8*d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.bw = d.mcusX * c.h
		c.bh = d.mcusY * c.v
		c.dw = ceilDiv(d.width*c.h, d.hmax)
		c.dh = ceilDiv(d.height*c.v, d.vmax)
	}
	d.sawSOF = true
	d.colorSpace = d.guessColorSpace()
	return nil
}

// guessColorSpace follows jdapimin.c's default_decompress_parms. It is
// called again at the first scan, as markers between SOF and SOS count.
func (d *decoder) guessColorSpace() ColorSpace {
	switch len(d.comps) {
	case 1:
		return Gray
	case 3:
		if d.sawJFIF {
			return YCbCr
		}
		if d.sawAdobe {
			if d.adobeTransform == 0 {
				return RGB
			}
			return YCbCr
		}
		if d.comps[0].id == 82 && d.comps[1].id == 71 && d.comps[2].id == 66 {
			return RGB
		}
		return YCbCr
	case 4:
		if d.sawAdobe && d.adobeTransform == 0 {
			return CMYK
		}
		if d.sawAdobe {
			return YCCK
		}
		return CMYK
	}
	return 0
}

func (d *decoder) readDQT(off int) error {
	p, po, err := d.segment(mDQT)
	if err != nil {
		return err
	}
	for len(p) > 0 {
		pq, tq := int(p[0]>>4), int(p[0]&15)
		if tq > 3 {
			return d.errf(po, "bad DQT table index %d", tq)
		}
		if pq > 1 {
			return d.errf(po, "bad DQT precision %d", pq)
		}
		need := 1 + 64*(pq+1)
		if len(p) < need {
			return d.errf(po, "bad DQT length")
		}
		for i := 0; i < 64; i++ {
			var v uint16
			if pq == 1 {
				v = binary.BigEndian.Uint16(p[1+2*i:])
			} else {
				v = uint16(p[1+i])
			}
			d.quant[tq][zigzag[i]] = v
		}
		d.quantSet[tq] = true
		p = p[need:]
		po += need
	}
	return nil
}

func (d *decoder) readDHT(off int) error {
	p, po, err := d.segment(mDHT)
	if err != nil {
		return err
	}
	for len(p) > 16 {
		tc, th := int(p[0]>>4), int(p[0]&15)
		if tc > 1 || th > 3 {
			return d.errf(po, "bad DHT table index 0x%02X", p[0])
		}
		var s huffSpec
		copy(s.counts[:], p[1:17])
		n := 0
		for _, c := range s.counts {
			n += int(c)
		}
		if n > 256 || n > len(p)-17 {
			return d.errf(po, "bad Huffman table")
		}
		copy(s.symbols[:], p[17:17+n])
		s.n = n
		s.defined = true
		if tc == 0 {
			d.dcSpec[th] = s
			d.dcTab[th] = nil
		} else {
			d.acSpec[th] = s
			d.acTab[th] = nil
		}
		p = p[17+n:]
		po += 17 + n
	}
	if len(p) != 0 {
		return d.errf(po, "bad DHT length")
	}
	return nil
}

func (d *decoder) readDAC(off int) error {
	p, po, err := d.segment(mDAC)
	if err != nil {
		return err
	}
	if len(p)%2 != 0 {
		return d.errf(po, "bad DAC length")
	}
	for i := 0; i < len(p); i += 2 {
		idx, val := int(p[i]), p[i+1]
		if idx < 0 || idx >= 32 {
			return d.errf(po+i, "bad DAC index %d", idx)
		}
		if idx >= 16 {
			d.arithACK[idx-16] = val
		} else {
			l, u := val&15, val>>4
			if l > u {
				return d.errf(po+i+1, "bad DAC value 0x%02X", val)
			}
			d.arithDCL[idx] = l
			d.arithDCU[idx] = u
		}
	}
	return nil
}

func (d *decoder) config() Config {
	return Config{
		Width: d.width, Height: d.height, Components: len(d.comps),
		ColorSpace: d.colorSpace, Progressive: d.progressive, Arithmetic: d.arithmetic,
		Orientation: d.orientation,
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// zigzag maps the zig-zag index of a coefficient to its natural index.
// Entries 64-79 map to 63, as libjpeg's jpeg_natural_order does, so that a
// corrupt run past the end lands on the last coefficient.
var zigzag = [128]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
}
