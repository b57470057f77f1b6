package jpeg

// Arithmetic (QM-coder) entropy decoding, as jdarith.c does it: statistics
// bins per table, the DC conditioning of DAC's L and U, the AC K threshold.

type arithState struct {
	c, a    int64
	ct      int
	dcStats [16][64]byte
	acStats [16][256]byte
	fixed   byte
	dcCtx   [4]int
	eof     bool // the data ended inside the scan (not at a marker)
	bad     bool // a spectral or magnitude overflow: corrupt data
}

func (a *arithState) reset(d *decoder, sc *scan) {
	for _, s := range sc.comps {
		if !d.progressive || (sc.ss == 0 && sc.ah == 0) {
			a.dcStats[s.dc] = [64]byte{}
		}
		if !d.progressive || sc.ss != 0 {
			a.acStats[s.ac] = [256]byte{}
		}
	}
	a.dcCtx = [4]int{}
	a.c, a.a, a.ct = 0, 0, -16
	a.fixed = 113
}

// byteIn fetches the next data byte for the C register: stuffed zeros
// removed, zeros after a marker or the end of the data.
func (a *arithState) byteIn(br *bitReader) int64 {
	if br.marker {
		return 0
	}
	if br.pos >= len(br.data) {
		br.marker, a.eof = true, true
		return 0
	}
	c := br.data[br.pos]
	if c != 0xFF {
		br.pos++
		return int64(c)
	}
	q := br.pos + 1
	for q < len(br.data) && br.data[q] == 0xFF {
		q++
	}
	if q < len(br.data) && br.data[q] == 0 {
		br.pos = q + 1
		return 0xFF
	}
	if q >= len(br.data) {
		a.eof = true
		br.pos = len(br.data)
	} else {
		br.pos = q - 1
	}
	br.marker = true
	return 0
}

// decodeBin decodes one binary decision with the adaptive bin *st.
func (a *arithState) decodeBin(br *bitReader, st *byte) int {
	for a.a < 0x8000 {
		a.ct--
		if a.ct < 0 {
			a.c = a.c<<8 | a.byteIn(br)
			a.ct += 8
			if a.ct < 0 {
				a.ct++
				if a.ct == 0 {
					a.a = 0x8000
				}
			}
		}
		a.a <<= 1
	}
	sv := *st
	e := &qeTable[sv&0x7F]
	qe := int64(e.qe)
	nl := e.nlps | e.switchMPS<<7
	nm := e.nmps
	temp := a.a - qe
	a.a = temp
	temp <<= uint(a.ct)
	if a.c >= temp {
		a.c -= temp
		if a.a < qe {
			a.a = qe
			*st = sv&0x80 ^ nm
		} else {
			a.a = qe
			*st = sv&0x80 ^ nl
			sv ^= 0x80
		}
	} else if a.a < 0x8000 {
		if a.a < qe {
			*st = sv&0x80 ^ nl
			sv ^= 0x80
		} else {
			*st = sv&0x80 ^ nm
		}
	}
	return int(sv >> 7)
}

func (d *decoder) arithCorrupt(br *bitReader) error {
	return d.errf(br.pos, "corrupt arithmetic-coded data")
}

// arithDC decodes a DC difference into the prediction of component ci of
// the scan.
func (d *decoder) arithDC(br *bitReader, sc *scan, si, ci int) bool {
	a := &d.arith
	tbl := sc.comps[si].dc
	stats := &a.dcStats[tbl]
	st := a.dcCtx[si]
	if a.decodeBin(br, &stats[st]) == 0 {
		a.dcCtx[si] = 0
		return true
	}
	sign := a.decodeBin(br, &stats[st+1])
	st += 2 + sign
	m := a.decodeBin(br, &stats[st])
	if m != 0 {
		st = 20
		for a.decodeBin(br, &stats[st]) != 0 {
			m <<= 1
			if m == 0x8000 {
				a.bad = true
				return false
			}
			st++
		}
	}
	if m < (1<<d.arithDCL[tbl])>>1 {
		a.dcCtx[si] = 0
	} else if m > (1<<d.arithDCU[tbl])>>1 {
		a.dcCtx[si] = 12 + sign*4
	} else {
		a.dcCtx[si] = 4 + sign*4
	}
	v := m
	st += 14
	for m >>= 1; m != 0; m >>= 1 {
		if a.decodeBin(br, &stats[st]) != 0 {
			v |= m
		}
	}
	v++
	if sign != 0 {
		v = -v
	}
	d.pred[ci] = (d.pred[ci] + int32(v)) & 0xFFFF
	return true
}

// arithAC decodes coefficients k0..se of a block (first pass), each
// shifted left by al.
func (d *decoder) arithAC(br *bitReader, sc *scan, si, k0, se, al int, blk []int16) bool {
	a := &d.arith
	tbl := sc.comps[si].ac
	stats := &a.acStats[tbl]
	for k := k0; k <= se; k++ {
		st := 3 * (k - 1)
		if a.decodeBin(br, &stats[st]) != 0 {
			break // EOB
		}
		for a.decodeBin(br, &stats[st+1]) == 0 {
			st += 3
			k++
			if k > se {
				a.bad = true
				return false
			}
		}
		sign := a.decodeBin(br, &a.fixed)
		st += 2
		m := a.decodeBin(br, &stats[st])
		if m != 0 {
			if a.decodeBin(br, &stats[st]) != 0 {
				m <<= 1
				if k <= int(d.arithACK[tbl]) {
					st = 189
				} else {
					st = 217
				}
				for a.decodeBin(br, &stats[st]) != 0 {
					m <<= 1
					if m == 0x8000 {
						a.bad = true
						return false
					}
					st++
				}
			}
		}
		v := m
		st += 14
		for m >>= 1; m != 0; m >>= 1 {
			if a.decodeBin(br, &stats[st]) != 0 {
				v |= m
			}
		}
		v++
		if sign != 0 {
			v = -v
		}
		blk[zigzag[k]] = int16(uint32(v) << al)
	}
	return true
}

func (d *decoder) arithACRefine(br *bitReader, sc *scan, si int, blk []int16) bool {
	a := &d.arith
	stats := &a.acStats[sc.comps[si].ac]
	p1 := int16(1) << sc.al
	m1 := int16(-1) << sc.al
	kex := sc.se
	for ; kex > 0; kex-- {
		if blk[zigzag[kex]] != 0 {
			break
		}
	}
	for k := sc.ss; k <= sc.se; k++ {
		st := 3 * (k - 1)
		if k > kex && a.decodeBin(br, &stats[st]) != 0 {
			break
		}
		for {
			coef := &blk[zigzag[k]]
			if *coef != 0 {
				if a.decodeBin(br, &stats[st+2]) != 0 {
					if *coef < 0 {
						*coef += m1
					} else {
						*coef += p1
					}
				}
				break
			}
			if a.decodeBin(br, &stats[st+1]) != 0 {
				if a.decodeBin(br, &a.fixed) != 0 {
					*coef = m1
				} else {
					*coef = p1
				}
				break
			}
			st += 3
			k++
			if k > sc.se {
				a.bad = true
				return false
			}
		}
	}
	return true
}

func (d *decoder) arithBlockFn(sc *scan, br *bitReader) blockFn {
	a := &d.arith
	wrap := func(ok bool) error {
		if !ok || a.bad {
			return d.arithCorrupt(br)
		}
		if a.eof {
			return d.errf(br.pos, "truncated arithmetic-coded scan")
		}
		return nil
	}
	switch {
	case !d.progressive:
		return func(c *component, si int, blk []int16) error {
			if !d.arithDC(br, sc, si, c.index) {
				return wrap(false)
			}
			blk[0] = int16(d.pred[c.index])
			return wrap(d.arithAC(br, sc, si, 1, 63, 0, blk))
		}
	case sc.ss == 0 && sc.ah == 0:
		return func(c *component, si int, blk []int16) error {
			if !d.arithDC(br, sc, si, c.index) {
				return wrap(false)
			}
			blk[0] = int16(d.pred[c.index] << sc.al)
			return wrap(true)
		}
	case sc.ss == 0:
		return func(c *component, si int, blk []int16) error {
			if a.decodeBin(br, &a.fixed) != 0 {
				blk[0] |= int16(1 << sc.al)
			}
			return wrap(true)
		}
	case sc.ah == 0:
		return func(c *component, si int, blk []int16) error {
			return wrap(d.arithAC(br, sc, si, sc.ss, sc.se, sc.al, blk))
		}
	default:
		return func(c *component, si int, blk []int16) error {
			return wrap(d.arithACRefine(br, sc, si, blk))
		}
	}
}
