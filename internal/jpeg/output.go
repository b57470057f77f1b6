package jpeg

import (
	"unsafe"

	"github.com/glipctl/glipctl/internal/parallel"
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
			rows := c.bh * 8
			if c.planeRows > 0 {
				rows = c.planeRows
			}
			c.plane = make([]byte, c.bw*8*rows)
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
				bi := (c.blockRow(by)*c.bw + bx) * 64
				idctBlock(c.coefs[bi:bi+64], &c.quant, c.plane[c.planeRow(by*8)*stride+bx*8:], stride)
			}
		}
	}
}

// planeRow maps a sample row to its row in c.plane.
func (c *component) planeRow(y int) int {
	if c.planeRows > 0 {
		return y % c.planeRows
	}
	return y
}

// workers is how many goroutines decode the image (Options.Workers).
func (d *decoder) workers() int {
	switch {
	case d.opts.Workers > 0:
		return d.opts.Workers
	case d.width*d.height < ParallelPixels:
		return 1
	}
	return parallel.Workers(0)
}

// mcuRows runs fn over the MCU rows [0, mcusY) in chunks on d.workers()
// goroutines; each row's work is at least that of its samples.
func (d *decoder) mcuRows(fn func(lo, hi int)) {
	parallel.For(d.workers(), d.mcusY, 8*d.vmax*d.width*len(d.comps), fn)
}

// pixels views a row of 3-sample pixels as such (len(row) a multiple of
// 3).
func pixels(row []byte) [][3]byte {
	if len(row) == 0 {
		return nil
	}
	return unsafe.Slice((*[3]byte)(unsafe.Pointer(&row[0])), len(row)/3)
}

// pairViews views a row of samples as pairs (len(row) even).
func pairViews(row []byte) [][2]byte {
	if len(row) == 0 {
		return nil
	}
	return unsafe.Slice((*[2]byte)(unsafe.Pointer(&row[0])), len(row)/2)
}

// pixelPairs views a row of 3-sample pixels as pairs of them (an even
// count).
func pixelPairs(row [][3]byte) [][2][3]byte {
	if len(row) == 0 {
		return nil
	}
	return unsafe.Slice((*[2][3]byte)(unsafe.Pointer(&row[0])), len(row)/2)
}

func (d *decoder) transformAll() {
	d.allocPlanes()
	d.mcuRows(func(lo, hi int) {
		for my := lo; my < hi; my++ {
			d.transformRow(my)
		}
	})
}

// upsampleRow writes output row y of component c, at full resolution, into
// out (at least 2*c.dw+hmax and d.width samples long) and returns the row
// (which may alias the plane for a full-size component).
func (d *decoder) upsampleRow(c *component, m upMethod, y int, out []byte) []byte {
	stride := c.bw * 8
	row := func(iy int) []byte { iy = c.planeRow(iy); return c.plane[iy*stride : iy*stride+stride] }
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
		// Middle columns; o walks the output pairs (bounds checked once).
		o := out[2 : 2*dw-2]
		a0, a1 := in0[2:], in1[2:len(in0)]
		for i := range a0 {
			next = int(a0[i])*3 + int(a1[i])
			p := o[2*i : 2*i+2 : 2*i+2]
			p[0] = byte((this*3 + last + 8) >> 4)
			p[1] = byte((this*3 + next + 7) >> 4)
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

// yccTerms are jdcolor.c's terms for one chroma value, arranged for an
// output order: a pixel's first sample is Y + first[a] and its last Y +
// last[b], its green Y + (gFirst[a] + gLast[b]) >> 16, where a is the
// chroma that makes the first sample (Cr for R,G,B; Cb for B,G,R) and b
// the other.
type yccTerms struct{ first, last, gFirst, gLast int32 }

// yccOrder holds yccTerms for every chroma value, R,G,B order first.
var yccOrder [2][256]yccTerms

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
		yccOrder[0][i] = yccTerms{first: crR[i], last: cbB[i], gFirst: crG[i], gLast: cbG[i]}
		yccOrder[1][i] = yccTerms{first: cbB[i], last: crR[i], gFirst: cbG[i], gLast: crG[i]}
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
