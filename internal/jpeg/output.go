package jpeg

import (
	"runtime"
	"sync"
)

// upsampling methods, chosen per component as jdsample.c's jinit_upsampler
// chooses them with do_fancy_upsampling on.
type upMethod int

const (
	upFull upMethod = iota
	upH2V1Fancy
	upH2V1
	upH1V2Fancy
	upH2V2Fancy
	upH2V2
	upInt
)

func (d *decoder) chooseUpsampling() ([]upMethod, error) {
	ms := make([]upMethod, len(d.comps))
	for i := range d.comps {
		c := &d.comps[i]
		hin, vin, hout, vout := c.h, c.v, d.hmax, d.vmax
		switch {
		case hin == hout && vin == vout:
			ms[i] = upFull
		case hin*2 == hout && vin == vout:
			if c.dw > 2 {
				ms[i] = upH2V1Fancy
			} else {
				ms[i] = upH2V1
			}
		case hin == hout && vin*2 == vout:
			ms[i] = upH1V2Fancy
		case hin*2 == hout && vin*2 == vout:
			if c.dw > 2 {
				ms[i] = upH2V2Fancy
			} else {
				ms[i] = upH2V2
			}
		case hout%hin == 0 && vout%vin == 0:
			ms[i] = upInt
		default:
			return nil, d.unsupported(0, "fractional sampling: component %d is %dx%d in a %dx%d MCU (libjpeg: fractional sampling not implemented)", c.id, c.h, c.v, d.hmax, d.vmax)
		}
	}
	return ms, nil
}

func (d *decoder) allocPlanes() {
	for i := range d.comps {
		c := &d.comps[i]
		if c.plane == nil {
			c.plane = make([]byte, c.bw*8*c.bh*8)
		}
	}
}

// transformRow runs the IDCT over the blocks of MCU row my that upsampling
// can reach (those covering the downsampled width and height).
func (d *decoder) transformRow(my int) {
	for i := range d.comps {
		c := &d.comps[i]
		stride := c.bw * 8
		wb, hb := ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
		for v := 0; v < c.v; v++ {
			by := my*c.v + v
			if by >= hb {
				break
			}
			for bx := 0; bx < wb; bx++ {
				bi := (by*c.bw + bx) * 64
				idctBlock(c.coefs[bi:bi+64], &c.quant, c.plane[by*8*stride+bx*8:], stride)
			}
		}
	}
}

func workers() int {
	n := runtime.GOMAXPROCS(0)
	if n < 1 {
		n = 1
	}
	return n
}

// parallelRows runs fn over [0,n) in contiguous chunks on all cores.
func parallelRows(n, grain int, fn func(lo, hi int)) {
	w := workers()
	if w == 1 || n <= grain {
		fn(0, n)
		return
	}
	chunks := ceilDiv(n, grain)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < min(w, chunks); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				c := next
				next++
				mu.Unlock()
				if c >= chunks {
					return
				}
				fn(c*grain, min(n, (c+1)*grain))
			}
		}()
	}
	wg.Wait()
}

func (d *decoder) transformAll() {
	d.allocPlanes()
	parallelRows(d.mcusY, 1, func(lo, hi int) {
		for my := lo; my < hi; my++ {
			d.transformRow(my)
		}
	})
}

// idctPipe transforms MCU rows on other cores while the entropy decoder
// goes on.
type idctPipe struct {
	rows chan int
	wg   sync.WaitGroup
}

func (d *decoder) startPipe() *idctPipe {
	d.allocPlanes()
	p := &idctPipe{rows: make(chan int, d.mcusY)}
	n := max(1, workers()-1)
	for i := 0; i < n; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for my := range p.rows {
				d.transformRow(my)
			}
		}()
	}
	return p
}

func (p *idctPipe) send(my int) { p.rows <- my }

func (p *idctPipe) close() {
	close(p.rows)
	p.wg.Wait()
}

// upsampleRow writes output row y of component c, at full resolution, into
// out (at least 2*c.dw+hmax and d.width samples long) and returns the row
// (which may alias the plane for a full-size component).
func (d *decoder) upsampleRow(c *component, m upMethod, y int, out []byte) []byte {
	stride := c.bw * 8
	row := func(iy int) []byte { return c.plane[iy*stride : iy*stride+stride] }
	// Vertical neighbour of a 2:1 vertical filter: the row above for an
	// even output row, below for an odd one, replicated at the edges.
	near := func(iy int, odd bool) []byte {
		if odd {
			if iy+1 < c.dh {
				return row(iy + 1)
			}
			return row(iy)
		}
		if iy > 0 {
			return row(iy - 1)
		}
		return row(iy)
	}
	dw := c.dw
	switch m {
	case upFull:
		return row(y)
	case upH2V1:
		in := row(y)
		for x := 0; x < dw; x++ {
			out[2*x], out[2*x+1] = in[x], in[x]
		}
	case upH2V1Fancy:
		in := row(y)[:dw]
		out[0] = in[0]
		out[1] = byte((int(in[0])*3 + int(in[1]) + 2) >> 2)
		for x := 1; x < dw-1; x++ {
			v := int(in[x]) * 3
			out[2*x] = byte((v + int(in[x-1]) + 1) >> 2)
			out[2*x+1] = byte((v + int(in[x+1]) + 2) >> 2)
		}
		v := int(in[dw-1]) * 3
		out[2*dw-2] = byte((v + int(in[dw-2]) + 1) >> 2)
		out[2*dw-1] = in[dw-1]
	case upH1V2Fancy:
		iy := y >> 1
		in0, in1 := row(iy)[:dw], near(iy, y&1 == 1)[:dw]
		bias := 1
		if y&1 == 1 {
			bias = 2
		}
		for x := 0; x < dw; x++ {
			out[x] = byte((int(in0[x])*3 + int(in1[x]) + bias) >> 2)
		}
	case upH2V2:
		in := row(y >> 1)
		for x := 0; x < dw; x++ {
			out[2*x], out[2*x+1] = in[x], in[x]
		}
	case upH2V2Fancy:
		iy := y >> 1
		in0, in1 := row(iy)[:dw], near(iy, y&1 == 1)[:dw]
		this := int(in0[0])*3 + int(in1[0])
		next := int(in0[1])*3 + int(in1[1])
		out[0] = byte((this*4 + 8) >> 4)
		out[1] = byte((this*3 + next + 7) >> 4)
		last := this
		this = next
		for x := 1; x < dw-1; x++ {
			next = int(in0[x+1])*3 + int(in1[x+1])
			out[2*x] = byte((this*3 + last + 8) >> 4)
			out[2*x+1] = byte((this*3 + next + 7) >> 4)
			last, this = this, next
		}
		out[2*dw-2] = byte((this*3 + last + 8) >> 4)
		out[2*dw-1] = byte((this*4 + 7) >> 4)
	case upInt:
		he, ve := d.hmax/c.h, d.vmax/c.v
		in := row(y / ve)
		for x := 0; x < d.width; x++ {
			out[x] = in[x/he]
		}
	}
	return out
}

// YCbCr to RGB tables of jdcolor.c's build_ycc_rgb_table.
var crR, cbB [256]int32
var crG, cbG [256]int32

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
}

func clamp255(x int32) byte {
	if uint32(x) > 255 {
		if x < 0 {
			return 0
		}
		return 255
	}
	return byte(x)
}

// output upsamples and colour-converts the planes into the image.
func (d *decoder) output() (*Image, error) {
	ms, err := d.chooseUpsampling()
	if err != nil {
		return nil, err
	}
	img := &Image{Config: d.config(), Channels: len(d.comps)}
	if img.Channels == 4 {
		img.Channels = 4
	}
	W, H := d.width, d.height
	img.Pix = make([]byte, W*H*img.Channels)
	nc := len(d.comps)
	bufLen := 0
	for i := range d.comps {
		bufLen = max(bufLen, 2*d.comps[i].dw+8, W+8)
	}
	cs := d.colorSpace
	parallelRows(H, 64, func(lo, hi int) {
		var bufs [4][]byte
		var rows [4][]byte
		for i := 0; i < nc; i++ {
			bufs[i] = make([]byte, bufLen)
		}
		for y := lo; y < hi; y++ {
			for i := 0; i < nc; i++ {
				rows[i] = d.upsampleRow(&d.comps[i], ms[i], y, bufs[i])
			}
			out := img.Pix[y*W*nc : (y+1)*W*nc]
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
				for x := 0; x < W; x++ {
					Y := int32(yy[x])
					o := out[3*x : 3*x+3 : 3*x+3]
					o[0] = clamp255(Y + crR[cr[x]])
					o[1] = clamp255(Y + (cbG[cb[x]]+crG[cr[x]])>>16)
					o[2] = clamp255(Y + cbB[cb[x]])
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
	})
	return img, nil
}
