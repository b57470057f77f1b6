package jpeg

import "sync"

// outputter upsamples and colour-converts component planes into the image,
// one MCU row (8*vmax image rows) at a time.
type outputter struct {
	d       *decoder
	img     *Image
	methods []upMethod
	bufLen  int
	pool    sync.Pool
}

func (d *decoder) newOutput() (*outputter, error) {
	ms, err := d.chooseUpsampling()
	if err != nil {
		return nil, err
	}
	o := &outputter{d: d, methods: ms}
	nc := len(d.comps)
	o.img = &Image{Config: d.config(), Channels: nc, BGROrder: d.opts.BGR && nc == 3}
	if n := d.width * d.height * nc; cap(d.opts.Pix) >= n {
		o.img.Pix = d.opts.Pix[:n]
	} else {
		o.img.Pix = make([]byte, n)
	}
	o.bufLen = d.width + 16
	for i := range d.comps {
		o.bufLen = max(o.bufLen, 2*d.comps[i].dw+16)
	}
	o.pool.New = func() any {
		b := &rowBufs{rows: make([][]byte, len(d.comps)), sums: make([]uint32, d.comps[0].dw+2)}
		for i := range b.rows {
			b.rows[i] = make([]byte, o.bufLen)
		}
		return b
	}
	return o, nil
}

// rowBufs is the scratch memory of one mcuRow call: a full-size row per
// component, and convertH2V2's column sums.
type rowBufs struct {
	rows [][]byte
	sums []uint32
}

// mcuRow produces the image rows of MCU row r; the planes must hold block
// rows r-1, r and r+1 (those that exist).
func (o *outputter) mcuRow(r int) {
	d := o.d
	lo := r * 8 * d.vmax
	hi := min(d.height, lo+8*d.vmax)
	bufs := o.pool.Get().(*rowBufs)
	defer o.pool.Put(bufs)
	W, nc := d.width, len(d.comps)
	// 4:2:0, the common case: upsampled and converted in one pass.
	fused := d.colorSpace == YCbCr && o.methods[0] == upFull &&
		o.methods[1] == upH2V2Fancy && o.methods[2] == upH2V2Fancy &&
		d.comps[1].dw == d.comps[2].dw && d.comps[1].dw+2 <= len(bufs.sums)
	var rows [4][]byte
	for y := lo; y < hi; y++ {
		out := o.img.Pix[y*W*nc : (y+1)*W*nc]
		if fused {
			yr := d.upsampleRow(&d.comps[0], upFull, y, nil)
			cbn, cbf := d.fancyRows(&d.comps[1], y)
			crn, crf := d.fancyRows(&d.comps[2], y)
			if o.img.BGROrder {
				convertH2V2(pixels(out), yr[:W], cbn, cbf, crn, crf, bufs.sums, &yccOrder[1])
			} else {
				convertH2V2(pixels(out), yr[:W], crn, crf, cbn, cbf, bufs.sums, &yccOrder[0])
			}
			continue
		}
		for i := 0; i < nc; i++ {
			rows[i] = d.upsampleRow(&d.comps[i], o.methods[i], y, bufs.rows[i])
		}
		convertRow(d.colorSpace, out, &rows, W, o.img.BGROrder)
	}
}

// ycc converts one pixel to o as jdcolor.c's ycc_rgb_convert does, in the
// order of t (yccOrder): a is the chroma sample that makes the first
// output sample, b the other.
func ycc(o *[3]byte, t *[256]yccTerms, Y int32, a, b byte) {
	p, q := &t[a], &t[b]
	// Sample by sample: Go keeps a [3]byte value in memory, not registers.
	o[0] = clampTab[(Y+p.first)&1023]
	o[1] = clampTab[(Y+(p.gFirst+q.gLast)>>16)&1023]
	o[2] = clampTab[(Y+q.last)&1023]
}

// convertH2V2 writes one row of pixels (len(yr) of them, from full-size Y
// and 2:1 subsampled chroma in both directions) as jdsample.c's
// h2v2_fancy_upsample and jdcolor.c's ycc_rgb_convert make it, in the
// order of t: an and af are the near and far rows of the chroma a of t's
// first sample, bn and bf those of the other. For each chroma, the column
// sums 3*near + far of the two rows the triangle filter blends (near: the
// row nearest the output row, far: the next nearest), then per pixel
// (3*this + neighbour + 8 or 7) >> 4 with the neighbour column to its left
// (even pixels, + 8) or right (odd, + 7), a row's edge column being its
// own neighbour. Both chroma sums travel in one uint32 (a in the low 16
// bits: a column sum is at most 1020, an interpolation at most 4088, so
// neither lane spills into the other). sums holds len(an)+2 values, the
// row's sums with the edge columns repeated.
func convertH2V2(out [][3]byte, yr, an, af, bn, bf []byte, sums []uint32, t *[256]yccTerms) {
	dw := len(an)
	af, bn, bf = af[:dw], bn[:dw], bf[:dw]
	s := sums[1 : dw+1]
	for i, n := range an {
		s[i] = uint32(n)*3 + uint32(af[i]) | (uint32(bn[i])*3+uint32(bf[i]))<<16
	}
	sums[0], sums[dw+1] = s[0], s[dw-1]
	const even, odd = 8 | 8<<16, 7 | 7<<16
	left, this := sums[0], sums[1]
	pairs := len(yr) / 2
	y2 := pairViews(yr[:2*pairs])
	o2 := pixelPairs(out[:2*pairs])
	right := sums[2 : pairs+2]
	o2, right = o2[:len(y2)], right[:len(y2)]
	for i, y := range y2 {
		r := right[i]
		e, d := 3*this+left+even, 3*this+r+odd
		o := &o2[i]
		ycc(&o[0], t, int32(y[0]), byte(e>>4), byte(e>>20))
		ycc(&o[1], t, int32(y[1]), byte(d>>4), byte(d>>20))
		left, this = this, r
	}
	if len(yr) > 2*pairs {
		// An odd width: the last column's even pixel.
		e := 3*this + left + even
		ycc(&out[2*pairs], t, int32(yr[2*pairs]), byte(e>>4), byte(e>>20))
	}
}

// fancyRows returns, for output row y of a component upsampled 2:1
// vertically with the triangle filter, its nearest input row and the next
// nearest (above for an even y, below for an odd one, replicated at the
// image's top and bottom edges), both c.dw samples long.
func (d *decoder) fancyRows(c *component, y int) (near, far []byte) {
	stride := c.bw * 8
	iy := y >> 1
	fy := iy - 1
	if y&1 == 1 {
		fy = iy + 1
	}
	fy = max(0, min(fy, c.dh-1))
	a, b := c.planeRow(iy)*stride, c.planeRow(fy)*stride
	return c.plane[a : a+c.dw], c.plane[b : b+c.dw]
}

// clampTab[v&1023] is v clamped to 0..255 for v in -512..511, which covers
// Y plus any colour-table offset (at most 227 below 0, 226 above 255).
var clampTab = func() (t [1024]byte) {
	for i := range t {
		v := i
		if i >= 512 {
			v = i - 1024
		}
		t[i] = byte(min(255, max(0, v)))
	}
	return
}()

// convertRow writes one image row of W pixels to out from the full-size
// component rows, in colour space cs; a three-channel row as B,G,R when bgr
// is set.
func convertRow(cs ColorSpace, out []byte, rows *[4][]byte, W int, bgr bool) {
	switch cs {
	case Gray:
		copy(out, rows[0][:W])
	case RGB:
		r, g, b := rows[0][:W], rows[1][:W], rows[2][:W]
		o := pixels(out)[:W]
		if bgr {
			r, b = b, r
		}
		for x := range o {
			p := &o[x]
			p[0], p[1], p[2] = r[x], g[x], b[x]
		}
	case YCbCr:
		yy, a, b := rows[0][:W], rows[2][:W], rows[1][:W]
		t := &yccOrder[0]
		if bgr {
			a, b, t = b, a, &yccOrder[1]
		}
		o := pixels(out)[:W]
		for x, yv := range yy {
			ycc(&o[x], t, int32(yv), a[x], b[x])
		}
	case CMYK:
		c, m, yl, k := rows[0][:W], rows[1][:W], rows[2][:W], rows[3][:W]
		for x := 0; x < W; x++ {
			out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = c[x], m[x], yl[x], k[x]
		}
	case YCCK:
		yy, cb, cr, k := rows[0][:W], rows[1][:W], rows[2][:W], rows[3][:W]
		for x := 0; x < W; x++ {
			Y := int32(yy[x])
			o := out[4*x : 4*x+4 : 4*x+4]
			o[0] = clamp255(255 - (Y + crR[cr[x]]))
			o[1] = clamp255(255 - (Y + (cbG[cb[x]]+crG[cr[x]])>>16))
			o[2] = clamp255(255 - (Y + cbB[cb[x]]))
			o[3] = k[x]
		}
	}
}

// ringMCURows is how many MCU rows of coefficients the streaming decoder
// keeps: the entropy decoder runs at most this far ahead of the transforms.
const ringMCURows = 6

// decodeStreamed decodes a file whose first scan is interleaved,
// sequential and holds every component. The calling goroutine decodes the
// entropy-coded data MCU row by MCU row into a ring of coefficient rows;
// workers run the IDCT of each row into the planes and, once a row's
// neighbours are transformed, upsample and convert its image rows.
func (d *decoder) decodeStreamed(sc *scan, br *bitReader) (*Image, error) {
	ring := min(ringMCURows, d.mcusY)
	for i := range d.comps {
		c := &d.comps[i]
		c.ringRows = ring * c.v
		c.planeRows = ring * c.v * 8
		c.coefs = make([]int16, c.ringRows*c.bw*64)
	}
	d.allocPlanes()
	out, err := d.newOutput()
	if err != nil {
		return nil, err
	}
	last := d.mcusY - 1
	if d.workers() == 1 {
		// On the calling goroutine: each MCU row is transformed once it
		// is decoded, and its upper neighbour, whose neighbours are then
		// transformed, is output. A ring slot is reused ring rows later,
		// long after the rows that read it are written.
		rowStart := func(my int) {
			for i := range d.comps {
				c := &d.comps[i]
				start := c.blockRow(my*c.v) * c.bw * 64
				clear(c.coefs[start : start+c.v*c.bw*64])
			}
		}
		rowDone := func(my int) {
			d.transformRow(my)
			if my > 0 {
				out.mcuRow(my - 1)
			}
		}
		if err := d.runEntropy(sc, br, rowStart, rowDone); err != nil {
			return nil, err
		}
		out.mcuRow(last)
		d.scans++
		return out.img, nil
	}
	var (
		mu       sync.Mutex
		idctDone = make([]bool, d.mcusY)
		outDone  = make([]bool, d.mcusY) // claimed by a worker
		outEnd   = make([]bool, d.mcusY) // finished
		released = make([]bool, d.mcusY)
		free     = make([]chan struct{}, ring) // per ring slot
		rows     = make(chan int, ring)
		wg       sync.WaitGroup
	)
	for i := range free {
		free[i] = make(chan struct{}, 1)
		free[i] <- struct{}{}
	}
	ready := func(q int) bool {
		return q >= 0 && q <= last && !outDone[q] && idctDone[max(q-1, 0)] && idctDone[q] && idctDone[min(q+1, last)]
	}
	for w := 0; w < d.workers(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rows {
				d.transformRow(r)
				var todo [3]int
				n := 0
				mu.Lock()
				idctDone[r] = true
				for q := r - 1; q <= r+1; q++ {
					if ready(q) {
						outDone[q] = true
						todo[n] = q
						n++
					}
				}
				mu.Unlock()
				for _, q := range todo[:n] {
					out.mcuRow(q)
					// A ring slot is free again once every image row that
					// reads its plane rows is written.
					mu.Lock()
					outEnd[q] = true
					for s := q - 1; s <= q+1; s++ {
						if s >= 0 && s <= last && !released[s] && idctDone[s] &&
							outEnd[max(s-1, 0)] && outEnd[s] && outEnd[min(s+1, last)] {
							released[s] = true
							free[s%ring] <- struct{}{}
						}
					}
					mu.Unlock()
				}
			}
		}()
	}
	rowStart := func(my int) {
		<-free[my%ring]
		for i := range d.comps {
			c := &d.comps[i]
			start := c.blockRow(my*c.v) * c.bw * 64
			clear(c.coefs[start : start+c.v*c.bw*64])
		}
	}
	err = d.runEntropy(sc, br, rowStart, func(my int) { rows <- my })
	close(rows)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	d.scans++
	return out.img, nil
}
