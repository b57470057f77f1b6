package jpeg

// resetEntropy starts a scan or a restart interval: DC predictions and the
// end-of-band run are zeroed (and the arithmetic decoder restarted).
func (d *decoder) resetEntropy(sc *scan) {
	d.pred = [4]int32{}
	d.eobrun = 0
	if d.arithmetic {
		d.arith.reset(d, sc)
	}
}

func (d *decoder) runEntropy(sc *scan, br *bitReader, rowStart, rowDone func(int)) error {
	var fn blockFn
	switch {
	case d.arithmetic:
		fn = d.arithBlockFn(sc, br)
	case !d.progressive:
		fn = func(c *component, si int, blk []int16) error {
			return d.huffSequential(br, sc, si, c, blk)
		}
	case sc.ss == 0 && sc.ah == 0:
		fn = func(c *component, si int, blk []int16) error {
			return d.huffDCFirst(br, sc, si, c, blk)
		}
	case sc.ss == 0:
		fn = func(c *component, si int, blk []int16) error {
			if br.bit() {
				blk[0] |= int16(1 << sc.al)
			}
			return nil
		}
	case sc.ah == 0:
		fn = func(c *component, si int, blk []int16) error {
			return d.huffACFirst(br, sc, si, blk)
		}
	default:
		fn = func(c *component, si int, blk []int16) error {
			return d.huffACRefine(br, sc, si, blk)
		}
	}
	if d.progressive {
		d.updateCoefBits(sc)
	}
	return d.runScan(sc, br, fn, rowStart, rowDone)
}

// updateCoefBits records the successive-approximation state that block
// smoothing looks at (jdphuff.c's coef_bits).
func (d *decoder) updateCoefBits(sc *scan) {
	for _, s := range sc.comps {
		for k := sc.ss; k <= sc.se; k++ {
			s.c.coefBits[k] = sc.al
		}
	}
}

func (d *decoder) badCode(br *bitReader) error {
	return d.errf(br.pos, "corrupt entropy-coded data (invalid Huffman code)")
}

func (d *decoder) huffSequential(br *bitReader, sc *scan, si int, c *component, blk []int16) error {
	s := &sc.comps[si]
	dct, act := d.dcTab[s.dc], d.acTab[s.ac]
	t, ok := br.decode(dct)
	if !ok {
		return d.badCode(br)
	}
	var diff int32
	if t != 0 {
		diff = extend(br.bits(uint(t)), uint(t))
	}
	d.pred[c.index] += diff
	blk[0] = int16(d.pred[c.index])
	// The AC loop keeps the bit buffer in locals (registers), writing it
	// back only to refill or to take the slow path.
	acc, n := br.acc, br.n
	blk = blk[:64:64]
	for k := 1; k < 64; k++ {
		if n < 32 {
			br.acc, br.n = acc, n
			br.fill()
			acc, n = br.acc, br.n
		}
		peek := acc >> (64 - lookBits)
		if f := act.fast[peek]; f != 0 {
			// Symbol and magnitude bits in one look-up.
			k += int(f>>8) & 0xFF
			l := uint(f & 0xFF)
			acc <<= l
			n -= l
			blk[zigzag[k&127]&63] = int16(f >> 16)
			continue
		}
		var sym byte
		if e := act.look[peek]; e != 0 {
			l := uint(e >> 8)
			acc <<= l
			n -= l
			sym = byte(e)
		} else {
			br.acc, br.n = acc, n
			sym, ok = br.decode(act)
			if !ok {
				return d.badCode(br)
			}
			acc, n = br.acc, br.n
		}
		r, sz := int(sym>>4), uint(sym&15)
		if sz != 0 {
			k += r
			v := int32(acc >> (64 - sz))
			acc <<= sz
			n -= sz
			blk[zigzag[k&127]&63] = int16(extend(v, sz))
		} else {
			if r != 15 {
				break
			}
			k += 15
		}
	}
	br.acc, br.n = acc, n
	return nil
}

func (d *decoder) huffDCFirst(br *bitReader, sc *scan, si int, c *component, blk []int16) error {
	t, ok := br.decode(d.dcTab[sc.comps[si].dc])
	if !ok {
		return d.badCode(br)
	}
	var diff int32
	if t != 0 {
		diff = extend(br.bits(uint(t)), uint(t))
	}
	d.pred[c.index] += diff
	blk[0] = int16(d.pred[c.index] << sc.al)
	return nil
}

func (d *decoder) huffACFirst(br *bitReader, sc *scan, si int, blk []int16) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	act := d.acTab[sc.comps[si].ac]
	for k := sc.ss; k <= sc.se; k++ {
		sym, ok := br.decode(act)
		if !ok {
			return d.badCode(br)
		}
		r, s := int(sym>>4), uint(sym&15)
		if s != 0 {
			k += r
			v := extend(br.bits(s), s)
			blk[zigzag[k]] = int16(v << sc.al)
		} else if r == 15 {
			k += 15
		} else {
			d.eobrun = 1 << r
			if r != 0 {
				d.eobrun += int(br.bits(uint(r)))
			}
			d.eobrun--
			break
		}
	}
	return nil
}

func (d *decoder) huffACRefine(br *bitReader, sc *scan, si int, blk []int16) error {
	p1 := int16(1) << sc.al
	m1 := int16(-1) << sc.al
	k := sc.ss
	if d.eobrun == 0 {
		act := d.acTab[sc.comps[si].ac]
		for ; k <= sc.se; k++ {
			sym, ok := br.decode(act)
			if !ok {
				return d.badCode(br)
			}
			r, s := int(sym>>4), int(sym&15)
			var val int16
			if s != 0 {
				if s != 1 {
					return d.errf(br.pos, "corrupt entropy-coded data (bad refinement symbol)")
				}
				if br.bit() {
					val = p1
				} else {
					val = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r != 0 {
					d.eobrun += int(br.bits(uint(r)))
				}
				break
			}
			for k <= sc.se {
				coef := &blk[zigzag[k]]
				if *coef != 0 {
					if br.bit() && *coef&p1 == 0 {
						if *coef >= 0 {
							*coef += p1
						} else {
							*coef += m1
						}
					}
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if s != 0 {
				blk[zigzag[k]] = val
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= sc.se; k++ {
			coef := &blk[zigzag[k]]
			if *coef != 0 {
				if br.bit() && *coef&p1 == 0 {
					if *coef >= 0 {
						*coef += p1
					} else {
						*coef += m1
					}
				}
			}
		}
		d.eobrun--
	}
	return nil
}
