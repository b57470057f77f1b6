package jpeg

import "fmt"

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

type scanComp struct {
	c      *component
	dc, ac int // table selectors
}

type scan struct {
	comps          []scanComp
	ss, se, ah, al int
	dataStart      int
}

// readSOS reads a scan header (d.pos just after the SOS marker) and checks
// it the way jdmarker.c, jdinput.c and jdphuff.c do.
func (d *decoder) readSOS(off int) error {
	if !d.sawSOF {
		return d.errf(off, "SOS before SOF")
	}
	p, po, err := d.segment(mSOS)
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return d.errf(po, "bad SOS length")
	}
	n := int(p[0])
	if len(p) != 4+2*n || n < 1 || n > 4 {
		return d.errf(po, "bad SOS length %d for %d components", len(p)+2, n)
	}
	sc := &scan{}
	for i := 0; i < n; i++ {
		cid, tabs := p[1+2*i], p[2+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == cid {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return d.errf(po+1+2*i, "scan names unknown component id %d", cid)
		}
		for _, o := range sc.comps {
			if o.c == c {
				return d.errf(po+1+2*i, "scan names component id %d twice", cid)
			}
		}
		sc.comps = append(sc.comps, scanComp{c: c, dc: int(tabs >> 4), ac: int(tabs & 15)})
	}
	q := p[1+2*n:]
	sc.ss, sc.se, sc.ah, sc.al = int(q[0]), int(q[1]), int(q[2]>>4), int(q[2]&15)
	if n > 1 {
		blocks := 0
		for _, s := range sc.comps {
			blocks += s.c.h * s.c.v
		}
		if blocks > 10 {
			return d.errf(po, "MCU of %d blocks (at most 10)", blocks)
		}
	}
	if d.progressive {
		bad := false
		if sc.ss == 0 {
			bad = sc.se != 0
		} else {
			bad = sc.se < sc.ss || sc.se > 63 || n != 1
		}
		if sc.ah != 0 && sc.al != sc.ah-1 {
			bad = true
		}
		if sc.al > 13 {
			bad = true
		}
		if bad {
			return d.errf(po, "invalid progressive scan parameters Ss=%d Se=%d Ah=%d Al=%d", sc.ss, sc.se, sc.ah, sc.al)
		}
	} else {
		// Sequential: libjpeg ignores Ss/Se/Ah/Al (it warns when they are
		// not 0, 63, 0, 0) and decodes all 64 coefficients.
		sc.ss, sc.se, sc.ah, sc.al = 0, 63, 0, 0
	}
	for _, s := range sc.comps {
		if s.dc > 3 || s.ac > 3 {
			return d.errf(po, "bad table selector")
		}
	}
	if d.scans == 0 {
		d.colorSpace = d.guessColorSpace()
	}
	sc.dataStart = d.pos
	d.cur = sc
	return nil
}

// prepareScan latches quantization tables and builds entropy tables.
func (d *decoder) prepareScan(sc *scan) error {
	for _, s := range sc.comps {
		c := s.c
		if !c.latched {
			if !d.quantSet[c.tq] {
				return d.errf(sc.dataStart, "quantization table %d not defined", c.tq)
			}
			for k := 0; k < 64; k++ {
				c.quant[k] = int32(d.quant[c.tq][k])
			}
			c.latched = true
		}
		if d.arithmetic {
			continue
		}
		needDC := !d.progressive || (sc.ss == 0 && sc.ah == 0)
		needAC := !d.progressive || sc.ss != 0
		if needDC {
			if err := d.ensureTable(0, s.dc, sc.dataStart); err != nil {
				return err
			}
		}
		if needAC {
			if err := d.ensureTable(1, s.ac, sc.dataStart); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *decoder) ensureTable(class, idx, off int) error {
	tabs, specs := &d.dcTab, &d.dcSpec
	if class == 1 {
		tabs, specs = &d.acTab, &d.acSpec
	}
	if tabs[idx] != nil {
		return nil
	}
	s := &specs[idx]
	var t *huffTable
	var msg string
	switch {
	case s.defined:
		t, msg = buildHuffTable(&s.counts, s.symbols[:s.n], class == 0)
	case !d.progressive && idx < 2:
		t, msg = buildHuffTable(stdTableCounts[class][idx], stdTablesSymbols[class][idx], class == 0)
	default:
		return d.errf(off, "Huffman table %d (class %d) not defined", idx, class)
	}
	if t == nil {
		return d.errf(off, "%s", msg)
	}
	tabs[idx] = t
	return nil
}

func (d *decoder) allocCoefs(sc *scan) error {
	for _, s := range sc.comps {
		c := s.c
		if c.coefs != nil {
			continue
		}
		if d.progressive && sc.ss != 0 {
			return d.errf(sc.dataStart, "AC scan of component %d before its DC scan", c.id)
		}
		if err := d.checkBlocks(sc); err != nil {
			return err
		}
		c.coefs = make([]int16, c.bw*c.bh*64)
	}
	return nil
}

// checkBlocks refuses a Huffman-coded scan that declares more blocks than
// the data left can hold (each costs at least one bit in a first scan),
// before anything is allocated for them.
func (d *decoder) checkBlocks(sc *scan) error {
	if d.arithmetic {
		return nil
	}
	for _, s := range sc.comps {
		c := s.c
		wb, hb := ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
		if wb*hb > 8*(len(d.data)-sc.dataStart)+64 {
			return d.errf(sc.dataStart, "%dx%d image cannot fit in the %d bytes left", d.width, d.height, len(d.data)-sc.dataStart)
		}
	}
	return nil
}

// blockRow maps a block row to its row in c.coefs.
func (c *component) blockRow(by int) int {
	if c.ringRows > 0 {
		return by % c.ringRows
	}
	return by
}

// scanBlocks calls fn for every block of the scan in coding order, with
// restart handling; fn decodes one block.
type blockFn func(c *component, sci int, blk []int16) error

func (d *decoder) runScan(sc *scan, br *bitReader, fn blockFn, rowStart, rowDone func(my int)) error {
	br.reset(d.data, sc.dataStart)
	d.resetEntropy(sc)
	mcu := 0
	nextRST := 0
	restart := func() error {
		// Discard buffered bits and expect RSTn at the byte position.
		pos := br.pos
		for pos < len(d.data) && d.data[pos] != 0xFF {
			pos++
		}
		q := pos
		for q < len(d.data) && d.data[q] == 0xFF {
			q++
		}
		if q >= len(d.data) {
			return d.errf(pos, "truncated scan: expected RST%d marker", nextRST)
		}
		if d.data[q] != byte(mRST0+nextRST) {
			return d.errf(pos, "expected RST%d marker, found 0x%02X", nextRST, d.data[q])
		}
		nextRST = (nextRST + 1) & 7
		br.reset(d.data, q+1)
		d.resetEntropy(sc)
		return nil
	}
	check := func() error {
		if br.overrun() {
			return d.errf(br.pos, "truncated or corrupt entropy-coded data (premature end of data segment)")
		}
		return nil
	}
	if len(sc.comps) == 1 {
		s := sc.comps[0]
		c := s.c
		wb, hb := ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
		for by := 0; by < hb; by++ {
			for bx := 0; bx < wb; bx++ {
				if d.restart > 0 && mcu > 0 && mcu%d.restart == 0 {
					if err := check(); err != nil {
						return err
					}
					if err := restart(); err != nil {
						return err
					}
				}
				i := (by*c.bw + bx) * 64
				if err := fn(c, 0, c.coefs[i:i+64:i+64]); err != nil {
					return err
				}
				mcu++
			}
			if err := check(); err != nil {
				return err
			}
		}
		return nil
	}
	for my := 0; my < d.mcusY; my++ {
		if rowStart != nil {
			rowStart(my)
		}
		for mx := 0; mx < d.mcusX; mx++ {
			if d.restart > 0 && mcu > 0 && mcu%d.restart == 0 {
				if err := check(); err != nil {
					return err
				}
				if err := restart(); err != nil {
					return err
				}
			}
			for si, s := range sc.comps {
				c := s.c
				for v := 0; v < c.v; v++ {
					row := c.blockRow(my*c.v+v) * c.bw
					for h := 0; h < c.h; h++ {
						i := (row + mx*c.h + h) * 64
						if err := fn(c, si, c.coefs[i:i+64:i+64]); err != nil {
							return err
						}
					}
				}
			}
			mcu++
		}
		if err := check(); err != nil {
			return err
		}
		if rowDone != nil {
			rowDone(my)
		}
	}
	return nil
}

// decode runs the whole file.
func (d *decoder) decode() (*Image, error) {
	if err := d.readHeaders(); err != nil {
		return nil, err
	}
	if _, err := d.chooseUpsampling(); err != nil {
		return nil, err
	}
	var br bitReader
	for {
		sc := d.cur
		if err := d.prepareScan(sc); err != nil {
			return nil, err
		}
		whole := d.scans == 0 && !d.progressive && len(sc.comps) == len(d.comps) && len(sc.comps) > 1
		var starts []int
		if whole {
			starts = d.restartSegments(sc)
		}
		if whole && starts == nil {
			// One interleaved sequential scan holds the whole image:
			// MCU rows are transformed, upsampled and converted on other
			// cores while the next ones are decoded.
			if err := d.checkBlocks(sc); err != nil {
				return nil, err
			}
			d.streamed = true
			return d.decodeStreamed(sc, &br)
		}
		if err := d.allocCoefs(sc); err != nil {
			return nil, err
		}
		if starts != nil {
			// Restart intervals are independent: decode them on all cores.
			if err := d.decodeSegments(sc, starts); err != nil {
				return nil, err
			}
			break
		}
		if err := d.runEntropy(sc, &br, nil, nil); err != nil {
			return nil, err
		}
		d.scans++
		d.pos = br.pos
		done, err := d.nextScan()
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	for i := range d.comps {
		if d.comps[i].coefs == nil {
			return nil, d.errf(d.pos, "component %d has no scan", d.comps[i].id)
		}
	}
	if d.progressive && d.smoothable() {
		d.transformSmoothed()
	} else {
		d.transformAll()
	}
	out, err := d.newOutput()
	if err != nil {
		return nil, err
	}
	d.mcuRows(func(lo, hi int) {
		for r := lo; r < hi; r++ {
			out.mcuRow(r)
		}
	})
	return out.img, nil
}

// nextScan reads markers after a scan until the next SOS (false) or EOI
// or the end of the data (true).
func (d *decoder) nextScan() (bool, error) {
	for {
		if d.pos >= len(d.data) {
			return true, nil
		}
		m, off, err := d.nextMarker()
		if err != nil {
			// The data ended without EOI after a complete scan: libjpeg
			// warns and ends the image there.
			return true, nil
		}
		switch {
		case m == mEOI:
			return true, nil
		case m >= mRST0 && m <= mRST7:
			// A stray RST between scans: libjpeg skips it with a warning.
			continue
		case m == mSOF0 || m == mSOF1 || m == mSOF2 || m == mSOF9 || m == mSOF10 || m == mSOF3:
			return false, d.errf(off, "duplicate SOF marker")
		}
		isSOS, err := d.handleMarker(m, off)
		if err != nil {
			return false, err
		}
		if isSOS {
			return false, nil
		}
	}
}
