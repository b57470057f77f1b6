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
	o.img = &Image{Config: d.config(), Channels: len(d.comps)}
	o.img.Pix = make([]byte, d.width*d.height*o.img.Channels)
	o.bufLen = d.width + 16
	for i := range d.comps {
		o.bufLen = max(o.bufLen, 2*d.comps[i].dw+16)
	}
	o.pool.New = func() any {
		b := make([][]byte, len(d.comps))
		for i := range b {
			b[i] = make([]byte, o.bufLen)
		}
		return b
	}
	return o, nil
}

// mcuRow produces the image rows of MCU row r; the planes must hold block
// rows r-1, r and r+1 (those that exist).
func (o *outputter) mcuRow(r int) {
	d := o.d
	lo := r * 8 * d.vmax
	hi := min(d.height, lo+8*d.vmax)
	bufs := o.pool.Get().([][]byte)
	defer o.pool.Put(bufs)
	W, nc := d.width, len(d.comps)
	var rows [4][]byte
	fused := d.colorSpace == YCbCr && o.methods[0] == upFull &&
		o.methods[1] == upH2V2Fancy && o.methods[2] == upH2V2Fancy &&
		d.comps[1].dw == d.comps[2].dw
	for y := lo; y < hi; y++ {
		if fused {
			// 4:2:0, the common case: upsample and convert in one pass.
			yr := d.upsampleRow(&d.comps[0], upFull, y, nil)
			cb0, cb1 := d.fancyRows(&d.comps[1], y)
			cr0, cr1 := d.fancyRows(&d.comps[2], y)
			convertH2V2(o.img.Pix[y*W*3:(y+1)*W*3], yr[:W], cb0, cb1, cr0, cr1)
			continue
		}
		for i := 0; i < nc; i++ {
			rows[i] = d.upsampleRow(&d.comps[i], o.methods[i], y, bufs[i])
		}
		out := o.img.Pix[y*W*nc : (y+1)*W*nc]
		convertRow(d.colorSpace, out, &rows, W)
	}
}

// yccPixel converts one pixel as jdcolor.c's ycc_rgb_convert.
func yccPixel(o []byte, Y int32, b, r int) {
	o = o[:3:3]
	o[0] = clampTab[(Y+crR[r&255])&1023]
	o[1] = clampTab[(Y+(cbG[b&255]+crG[r&255])>>16)&1023]
	o[2] = clampTab[(Y+cbB[b&255])&1023]
}

// convertH2V2 writes one RGB row from full-size Y and the two chroma rows
// that jdsample.c's h2v2_fancy_upsample blends (nearest row n, next nearest
// f) for each of Cb and Cr: the column sums 3n+f are interpolated
// horizontally, (3*this + neighbour + 8 or 7) >> 4, and each pixel is
// converted at once.
func convertH2V2(out, yr, cbn, cbf, crn, crf []byte) {
	W := len(yr)
	dw := len(cbn)
	cbf, crn, crf = cbf[:dw], crn[:dw], crf[:dw]
	out = out[:3*W]
	sum := func(n, f []byte, i int) int { return int(n[i])*3 + int(f[i]) }
	// pixel 2i and 2i+1 for chroma column i with neighbours l and r.
	pair := func(i int, bl, bt, br, rl, rt, rr int, lastCol bool) {
		x := 2 * i
		yccPixel(out[3*x:], int32(yr[x]), (bt*3+bl+8)>>4, (rt*3+rl+8)>>4)
		if x+1 < W {
			if lastCol {
				yccPixel(out[3*x+3:], int32(yr[x+1]), (bt*4+7)>>4, (rt*4+7)>>4)
			} else {
				yccPixel(out[3*x+3:], int32(yr[x+1]), (bt*3+br+7)>>4, (rt*3+rr+7)>>4)
			}
		}
	}
	// First column: the left output is (4*sum + 8) >> 4.
	b0, r0 := sum(cbn, cbf, 0), sum(crn, crf, 0)
	b1, r1 := sum(cbn, cbf, 1), sum(crn, crf, 1)
	pair(0, b0, b0, b1, r0, r0, r1, false)
	bl, bt, rl, rt := b0, b1, r0, r1
	if dw > 2 {
		// Middle columns, two pixels each.
		yy := yr[2 : 2*dw-2]
		o := out[6 : 6*dw-6]
		cbn2, cbf2, crn2, crf2 := cbn[2:dw], cbf[2:dw], crn[2:dw], crf[2:dw]
		for j := range cbn2 {
			bn := int(cbn2[j])*3 + int(cbf2[j])
			rn := int(crn2[j])*3 + int(crf2[j])
			p := o[6*j : 6*j+6 : 6*j+6]
			y2 := yy[2*j : 2*j+2 : 2*j+2]
			yccPixel(p[0:3], int32(y2[0]), (bt*3+bl+8)>>4, (rt*3+rl+8)>>4)
			yccPixel(p[3:6], int32(y2[1]), (bt*3+bn+7)>>4, (rt*3+rn+7)>>4)
			bl, bt, rl, rt = bt, bn, rt, rn
		}
	}
	pair(dw-1, bl, bt, 0, rl, rt, 0, true)
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

func convertRow(cs ColorSpace, out []byte, rows *[4][]byte, W int) {
	switch cs {
	case Gray:
		copy(out, rows[0][:W])
	case RGB:
		r, g, b := rows[0][:W], rows[1][:W], rows[2][:W]
		for x := 0; x < W; x++ {
			out[3*x], out[3*x+1], out[3*x+2] = r[x], g[x], b[x]
		}
	case YCbCr:
		yy, cb, cr := rows[0][:W], rows[1][:W], rows[2][:W]
		out = out[:3*W]
		for x, yv := range yy {
			Y := int32(yv)
			b, r := cb[x], cr[x]
			o := out[3*x : 3*x+3 : 3*x+3]
			o[0] = clampTab[(Y+crR[r])&1023]
			o[1] = clampTab[(Y+(cbG[b]+crG[r])>>16)&1023]
			o[2] = clampTab[(Y+cbB[b])&1023]
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
	for w := 0; w < workers(); w++ {
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
