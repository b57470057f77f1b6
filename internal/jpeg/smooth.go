package jpeg

import "github.com/glipctl/glipctl/internal/parallel"

// Block smoothing of jdcoefct.c (decompress_smooth_data), which libjpeg
// applies by default to a progressive file whose scans leave some of the
// first nine AC coefficients (or the DC) not fully refined: such
// coefficients, where still zero, are estimated from the DC values of the
// 5x5 neighbouring blocks.

// smoothable reports whether libjpeg's smoothing_ok holds.
func (d *decoder) smoothable() bool {
	useful := false
	for i := range d.comps {
		c := &d.comps[i]
		q := &c.quant
		for _, k := range [...]int{0, 1, 8, 16, 9, 2, 3, 10, 17, 24} {
			if q[k] == 0 {
				return false
			}
		}
		if c.coefBits[0] < 0 {
			return false
		}
		for k := 1; k < 10; k++ {
			if c.coefBits[k] != 0 {
				useful = true
			}
		}
	}
	return useful
}

// transformSmoothed is transformAll with the smoothing of every block.
func (d *decoder) transformSmoothed() {
	d.allocPlanes()
	for i := range d.comps {
		c := &d.comps[i]
		hb := ceilDiv(c.dh, 8)
		parallel.For(d.workers(), hb, 8*c.bw*8*64, func(lo, hi int) {
			for by := lo; by < hi; by++ {
				d.smoothRow(c, by)
			}
		})
	}
}

func (d *decoder) smoothRow(c *component, by int) {
	wb, hb := ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
	v := c.v
	lastR := d.mcusY - 1
	R, b := by/v, by%v
	blockRows := v
	if R == lastR {
		blockRows = hb % v
		if blockRows == 0 {
			blockRows = v
		}
	}
	prev := by
	if b > 0 || R > 0 {
		prev = by - 1
	}
	prevPrev := prev
	if b > 1 || R > 1 {
		prevPrev = by - 2
	}
	next := by
	if b < blockRows-1 || R < lastR {
		next = by + 1
	}
	nextNext := next
	if b < blockRows-2 || R+1 < lastR {
		nextNext = by + 2
	}
	dc := func(row, col int) int64 { return int64(c.coefs[(row*c.bw+col)*64]) }
	cb := &c.coefBits
	changeDC := true
	for k := 1; k < 10; k++ {
		if cb[k] != -1 {
			changeDC = false
		}
	}
	q := &c.quant
	Q00, Q01, Q10, Q20, Q11, Q02 := int64(q[0]), int64(q[1]), int64(q[8]), int64(q[16]), int64(q[9]), int64(q[2])
	var Q03, Q12, Q21, Q30 int64
	if changeDC {
		Q03, Q12, Q21, Q30 = int64(q[3]), int64(q[10]), int64(q[17]), int64(q[24])
	}
	rows := [5]int{prevPrev, prev, by, next, nextNext}
	var DC [26]int64 // DC[1..25], row-major 5x5
	for r := 0; r < 5; r++ {
		for k := 1; k <= 5; k++ {
			DC[r*5+k] = dc(rows[r], 0)
		}
	}
	last := wb - 1
	stride := c.bw * 8
	var ws [64]int16
	estimate := func(al int, num, qv int64) int16 {
		var pred int64
		if num >= 0 {
			pred = ((qv << 7) + num) / (qv << 8)
			if al > 0 && pred >= 1<<al {
				pred = 1<<al - 1
			}
		} else {
			pred = ((qv << 7) - num) / (qv << 8)
			if al > 0 && pred >= 1<<al {
				pred = 1<<al - 1
			}
			pred = -pred
		}
		return int16(pred)
	}
	for n := 0; n < wb; n++ {
		bi := (by*c.bw + n) * 64
		copy(ws[:], c.coefs[bi:bi+64])
		if n == 0 && n < last {
			for r := 0; r < 5; r++ {
				DC[r*5+4] = dc(rows[r], 1)
			}
		}
		if n+1 < last {
			for r := 0; r < 5; r++ {
				DC[r*5+5] = dc(rows[r], n+2)
			}
		}
		D := &DC
		if al := cb[1]; al != 0 && ws[1] == 0 {
			var s int64
			if changeDC {
				s = -D[1] - D[2] + D[4] + D[5] - 3*D[6] + 13*D[7] - 13*D[9] + 3*D[10] - 3*D[11] + 38*D[12] - 38*D[14] + 3*D[15] - 3*D[16] + 13*D[17] - 13*D[19] + 3*D[20] - D[21] - D[22] + D[24] + D[25]
			} else {
				s = -7*D[11] + 50*D[12] - 50*D[14] + 7*D[15]
			}
			ws[1] = estimate(al, Q00*s, Q01)
		}
		if al := cb[2]; al != 0 && ws[8] == 0 {
			var s int64
			if changeDC {
				s = -D[1] - 3*D[2] - 3*D[3] - 3*D[4] - D[5] - D[6] + 13*D[7] + 38*D[8] + 13*D[9] - D[10] + D[16] - 13*D[17] - 38*D[18] - 13*D[19] + D[20] + D[21] + 3*D[22] + 3*D[23] + 3*D[24] + D[25]
			} else {
				s = -7*D[3] + 50*D[8] - 50*D[18] + 7*D[23]
			}
			ws[8] = estimate(al, Q00*s, Q10)
		}
		if al := cb[3]; al != 0 && ws[16] == 0 {
			var s int64
			if changeDC {
				s = D[3] + 2*D[7] + 7*D[8] + 2*D[9] - 5*D[12] - 14*D[13] - 5*D[14] + 2*D[17] + 7*D[18] + 2*D[19] + D[23]
			} else {
				s = -D[3] + 13*D[8] - 24*D[13] + 13*D[18] - D[23]
			}
			ws[16] = estimate(al, Q00*s, Q20)
		}
		if al := cb[4]; al != 0 && ws[9] == 0 {
			var s int64
			if changeDC {
				s = -D[1] + D[5] + 9*D[7] - 9*D[9] - 9*D[17] + 9*D[19] + D[21] - D[25]
			} else {
				s = D[10] + D[16] - 10*D[17] + 10*D[19] - D[2] - D[20] + D[22] - D[24] + D[4] - D[6] + 10*D[7] - 10*D[9]
			}
			ws[9] = estimate(al, Q00*s, Q11)
		}
		if al := cb[5]; al != 0 && ws[2] == 0 {
			var s int64
			if changeDC {
				s = 2*D[7] - 5*D[8] + 2*D[9] + D[11] + 7*D[12] - 14*D[13] + 7*D[14] + D[15] + 2*D[17] - 5*D[18] + 2*D[19]
			} else {
				s = -D[11] + 13*D[12] - 24*D[13] + 13*D[14] - D[15]
			}
			ws[2] = estimate(al, Q00*s, Q02)
		}
		if changeDC {
			if al := cb[6]; al != 0 && ws[3] == 0 {
				ws[3] = estimate(al, Q00*(D[7]-D[9]+2*D[12]-2*D[14]+D[17]-D[19]), Q03)
			}
			if al := cb[7]; al != 0 && ws[10] == 0 {
				ws[10] = estimate(al, Q00*(D[7]-3*D[8]+D[9]-D[17]+3*D[18]-D[19]), Q12)
			}
			if al := cb[8]; al != 0 && ws[17] == 0 {
				ws[17] = estimate(al, Q00*(D[7]-D[9]-3*D[12]+3*D[14]+D[17]-D[19]), Q21)
			}
			if al := cb[9]; al != 0 && ws[24] == 0 {
				ws[24] = estimate(al, Q00*(D[7]+2*D[8]+D[9]-D[17]-2*D[18]-D[19]), Q30)
			}
			s := -2*D[1] - 6*D[2] - 8*D[3] - 6*D[4] - 2*D[5] - 6*D[6] + 6*D[7] + 42*D[8] + 6*D[9] - 6*D[10] - 8*D[11] + 42*D[12] + 152*D[13] + 42*D[14] - 8*D[15] - 6*D[16] + 6*D[17] + 42*D[18] + 6*D[19] - 6*D[20] - 2*D[21] - 6*D[22] - 8*D[23] - 6*D[24] - 2*D[25]
			ws[0] = estimate(0, Q00*s, Q00)
		}
		idctBlock(ws[:], &c.quant, c.plane[by*8*stride+n*8:], stride)
		for r := 0; r < 5; r++ {
			o := r * 5
			DC[o+1], DC[o+2], DC[o+3], DC[o+4] = DC[o+2], DC[o+3], DC[o+4], DC[o+5]
		}
	}
}
