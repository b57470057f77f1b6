package swin

import (
	"fmt"
	"math"
	"slices"
)

// Input is a batch of images in NCHW float32, already normalised.
type Input struct {
	N, C, H, W int
	Data       []float32 // N*C*H*W values, C order
}

// Options controls a forward pass.
type Options struct {
	// Semantics picks the reference backbone ("" means MMPretrain).
	Semantics Semantics
	// OutIndices are the stages whose normalised outputs are returned, in
	// this order (nil means DefaultOutIndices).
	OutIndices []int
}

// Feature is one output stage: norm{Stage}(x) of that stage's blocks,
// taken before its patch merging, as (N, C, H, W).
type Feature struct {
	Stage      int
	N, C, H, W int
	Data       []float32 // N*C*H*W values, C order
}

// Shape returns the feature's shape as int64s (N, C, H, W).
func (f *Feature) Shape() []int64 {
	return []int64{int64(f.N), int64(f.C), int64(f.H), int64(f.W)}
}

// StageSizes returns the token map (H, W) of each stage for an h×w input:
// ceil(h/patch) × ceil(w/patch), then halved (rounding up) per stage.
func (a Arch) StageSizes(h, w int) [][2]int {
	p := max(a.PatchSize, 1)
	sz := make([][2]int, len(a.Depths))
	hh, ww := (h+p-1)/p, (w+p-1)/p
	for i := range sz {
		sz[i] = [2]int{hh, ww}
		hh, ww = (hh+1)/2, (ww+1)/2
	}
	return sz
}

// SmallMapError is an input too small for mmpretrain semantics: a stage's
// map is smaller than the window (mmpretrain asserts min(H, W) >= window).
type SmallMapError struct {
	Stage       int // the first stage whose map is too small
	H, W        int // its map
	Window      int
	InputH, InW int // the input size
}

func (e *SmallMapError) Error() string {
	return fmt.Sprintf("stage %d: its %dx%d feature map (from a %dx%d input) is smaller than the %d-token window, which mmpretrain semantics refuse (mmpretrain asserts min(H, W) >= window); use glip semantics, which pad small maps, or a larger input", e.Stage, e.H, e.W, e.InputH, e.InW, e.Window)
}

// CheckSize tells whether an h×w input can run under the semantics. Under
// mmpretrain semantics every stage's map must be at least the window on
// both sides; the error (a *SmallMapError) names the first stage that is
// not and suggests glip semantics, which pad small maps.
func (a Arch) CheckSize(h, w int, sem Semantics) error {
	if h <= 0 || w <= 0 {
		return fmt.Errorf("input size %dx%d is empty", h, w)
	}
	if sem == GLIP {
		return nil
	}
	for i, s := range a.StageSizes(h, w) {
		if min(s[0], s[1]) < a.Window {
			return &SmallMapError{Stage: i, H: s[0], W: s[1], Window: a.Window, InputH: h, InW: w}
		}
	}
	return nil
}

// shiftFor returns the cyclic shift of block j of a stage whose map is h×w.
func (a Arch) shiftFor(j, h, w int, sem Semantics) int {
	if j%2 == 0 {
		return 0
	}
	if sem != GLIP && min(h, w) == a.Window {
		return 0
	}
	return a.Window / 2
}

// Forward runs the backbone on x and returns the features of the output
// stages, in the order of opts.OutIndices. Every output stage K needs a
// norm{K} in the weights, except stage 0: the official GLIP weights have no
// norm0, which GLIP treats as an identity (glip semantics) and mmpretrain
// builds as a LayerNorm left at weight 1, bias 0 (mmpretrain semantics).
// Forward may be called from several goroutines at once.
func (m *Model) Forward(x Input, opts Options) ([]Feature, error) {
	sem := opts.Semantics
	if sem == "" {
		sem = MMPretrain
	}
	if sem != MMPretrain && sem != GLIP {
		return nil, fmt.Errorf("unknown semantics %q", sem)
	}
	outs := opts.OutIndices
	if outs == nil {
		outs = DefaultOutIndices
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("no output stages requested")
	}
	for i, k := range outs {
		if k < 0 || k >= len(m.stages) {
			return nil, fmt.Errorf("output stage %d out of range: the model has stages 0..%d", k, len(m.stages)-1)
		}
		if slices.Contains(outs[:i], k) {
			return nil, fmt.Errorf("output stage %d requested twice", k)
		}
		if _, ok := m.norms[k]; !ok && k != 0 {
			return nil, fmt.Errorf("output stage %d: the weights have no backbone.norm%d", k, k)
		}
	}
	if x.C != m.Arch.InChans {
		return nil, fmt.Errorf("input has %d channels, the model takes %d", x.C, m.Arch.InChans)
	}
	if x.N <= 0 {
		return nil, fmt.Errorf("input batch is empty")
	}
	if len(x.Data) != x.N*x.C*x.H*x.W {
		return nil, fmt.Errorf("input holds %d values, want %d×%d×%d×%d", len(x.Data), x.N, x.C, x.H, x.W)
	}
	if err := m.Arch.CheckSize(x.H, x.W, sem); err != nil {
		return nil, err
	}
	sizes := m.Arch.StageSizes(x.H, x.W)
	feats := make([]Feature, len(outs))
	for i, k := range outs {
		s := sizes[k]
		c := m.stages[k].dim
		feats[i] = Feature{Stage: k, N: x.N, C: c, H: s[0], W: s[1], Data: make([]float32, x.N*c*s[0]*s[1])}
	}
	plane := x.C * x.H * x.W
	for n := 0; n < x.N; n++ {
		m.forwardOne(x.Data[n*plane:(n+1)*plane], x.H, x.W, sem, outs, feats, n)
	}
	return feats, nil
}

func (m *Model) mm() MatMul {
	if m.MatMul != nil {
		return m.MatMul
	}
	return DefaultMatMul
}

// forwardOne runs one CHW image and writes image n of each output feature.
func (m *Model) forwardOne(img []float32, h, w int, sem Semantics, outs []int, feats []Feature, n int) {
	x, hh, ww := m.patchEmbed(img, h, w)
	for i := range m.stages {
		st := &m.stages[i]
		for j := range st.blocks {
			m.blockForward(x, hh, ww, st, &st.blocks[j], m.Arch.shiftFor(j, hh, ww, sem))
		}
		if oi := slices.Index(outs, i); oi >= 0 {
			f := &feats[oi]
			ln, ok := m.norms[i]
			var y []float32
			switch {
			case ok:
				y = layerNormRows(x, st.dim, ln)
			case sem == GLIP: // norm0 of GLIP: identity
				y = x
			default: // a missing mmpretrain norm0: LayerNorm(1, 0)
				y = layerNormRows(x, st.dim, layerNorm{})
			}
			dst := f.Data[n*f.C*f.H*f.W : (n+1)*f.C*f.H*f.W]
			transposeTo(dst, y, hh*ww, st.dim)
		}
		if st.down != nil {
			x, hh, ww = m.patchMerge(x, hh, ww, st.dim, st.down)
		}
	}
}

// patchEmbed is the patch convolution (kernel = stride = patch, the input
// zero-padded at the bottom/right to a multiple of the patch) followed by
// patch_embed.norm. It returns the tokens (row-major map, C per token).
func (m *Model) patchEmbed(img []float32, h, w int) ([]float32, int, int) {
	p := m.Arch.PatchSize
	cin := m.Arch.InChans
	e := m.Arch.EmbedDim
	hh, ww := (h+p-1)/p, (w+p-1)/p
	kk := cin * p * p
	cols := make([]float32, hh*ww*kk)
	parallelFor(hh, ww*kk, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			for x := 0; x < ww; x++ {
				col := cols[(y*ww+x)*kk : (y*ww+x+1)*kk]
				for c := 0; c < cin; c++ {
					for ky := 0; ky < p; ky++ {
						iy := y*p + ky
						if iy >= h {
							continue
						}
						row := img[c*h*w+iy*w:]
						for kx := 0; kx < p; kx++ {
							if ix := x*p + kx; ix < w {
								col[c*p*p+ky*p+kx] = row[ix]
							}
						}
					}
				}
			}
		}
	})
	tok := make([]float32, hh*ww*e)
	m.mm().MatMulT(hh*ww, e, kk, cols, kk, m.patchW, kk, m.patchB, tok, e)
	layerNormInPlace(tok, e, m.patchN)
	return tok, hh, ww
}

// blockForward runs one Swin block on the tokens x (h×w map, st.dim each)
// in place: x += attn(norm1(x)); x += mlp(norm2(x)).
func (m *Model) blockForward(x []float32, h, w int, st *stage, b *block, shift int) {
	c := st.dim
	win := m.Arch.Window
	ntok := win * win
	hp, wp := (h+win-1)/win*win, (w+win-1)/win*win
	nwy, nwx := hp/win, wp/win
	nwin := nwy * nwx
	t := layerNormRows(x, c, b.norm1)

	// Partition the (padded, cyclically shifted) map into windows. Token
	// (sy, sx) of the shifted map is token ((sy+shift)%hp, (sx+shift)%wp)
	// of the padded map; padding tokens are zero.
	src := windowSources(h, w, hp, wp, win, shift)
	wins := make([]float32, nwin*ntok*c)
	parallelFor(len(src), c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if s := src[i]; s >= 0 {
				copy(wins[i*c:(i+1)*c], t[s*c:(s+1)*c])
			}
		}
	})
	mm := m.mm()
	qkv := make([]float32, nwin*ntok*3*c)
	mm.MatMulT(nwin*ntok, 3*c, c, wins, c, b.qkv.w, c, b.qkv.b, qkv, 3*c)

	var labels []int8
	if shift > 0 {
		labels = maskLabels(hp, wp, win, shift)
	}
	heads := st.heads
	hd := c / heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	att := wins // reuse: every element is overwritten below
	parallelFor(nwin*heads, ntok*ntok*hd*2, func(lo, hi int) {
		s := make([]float32, ntok*ntok)
		vt := make([]float32, hd*ntok)
		for task := lo; task < hi; task++ {
			wi, head := task/heads, task%heads
			base := wi * ntok * 3 * c
			q := qkv[base+head*hd:]
			k := qkv[base+c+head*hd:]
			v := qkv[base+2*c+head*hd:]
			mm.MatMulT(ntok, ntok, hd, q, 3*c, k, 3*c, nil, s, ntok)
			bias := b.bias[head*ntok*ntok : (head+1)*ntok*ntok]
			var lab []int8
			if labels != nil {
				lab = labels[wi*ntok : (wi+1)*ntok]
			}
			for i := 0; i < ntok; i++ {
				row := s[i*ntok : (i+1)*ntok]
				brow := bias[i*ntok : (i+1)*ntok]
				for j := range row {
					row[j] = row[j]*scale + brow[j]
				}
				if lab != nil {
					li := lab[i]
					for j := range row {
						if lab[j] != li {
							row[j] += maskValue
						}
					}
				}
				softmaxInPlace(row)
			}
			for tkn := 0; tkn < ntok; tkn++ {
				vr := v[tkn*3*c : tkn*3*c+hd]
				for d, val := range vr {
					vt[d*ntok+tkn] = val
				}
			}
			mm.MatMulT(ntok, hd, ntok, s, ntok, vt, ntok, nil, att[wi*ntok*c+head*hd:], c)
		}
	})
	y := qkv[:nwin*ntok*c] // reuse
	mm.MatMulT(nwin*ntok, c, c, att, c, b.proj.w, c, b.proj.b, y, c)
	// Reverse the partition and the shift, crop the padding, add the
	// residual.
	parallelFor(len(src), c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if s := src[i]; s >= 0 {
				addTo(x[s*c:(s+1)*c], y[i*c:(i+1)*c])
			}
		}
	})

	// MLP.
	t = layerNormRows(x, c, b.norm2)
	l := h * w
	hid := b.fc1.out
	hbuf := make([]float32, l*hid)
	mm.MatMulT(l, hid, c, t, c, b.fc1.w, c, b.fc1.b, hbuf, hid)
	parallelFor(l, hid*8, func(lo, hi int) { geluInPlace(hbuf[lo*hid : hi*hid]) })
	mm.MatMulT(l, c, hid, hbuf, hid, b.fc2.w, hid, b.fc2.b, t, c)
	parallelFor(l, c, func(lo, hi int) { addTo(x[lo*c:hi*c], t[lo*c:hi*c]) })
}

// windowSources maps each window token (window-major, then row-major
// within the window) of the shifted, padded hp×wp map to its token in the
// h×w map, or -1 for padding.
func windowSources(h, w, hp, wp, win, shift int) []int {
	nwx := wp / win
	src := make([]int, hp*wp)
	for sy := 0; sy < hp; sy++ {
		py := (sy + shift) % hp
		for sx := 0; sx < wp; sx++ {
			px := (sx + shift) % wp
			i := ((sy/win)*nwx+sx/win)*win*win + (sy%win)*win + sx%win
			if py < h && px < w {
				src[i] = py*w + px
			} else {
				src[i] = -1
			}
		}
	}
	return src
}

// maskLabels returns the region of each window token of the shifted
// hp×wp map (same order as windowSources): rows [0, hp-win), [hp-win,
// hp-shift) and [hp-shift, hp) are regions 0, 1, 2 (likewise columns), and
// the label is 3*row region + column region. Tokens of different regions
// do not attend to each other (mask -100).
func maskLabels(hp, wp, win, shift int) []int8 {
	region := func(v, size int) int8 {
		switch {
		case v < size-win:
			return 0
		case v < size-shift:
			return 1
		}
		return 2
	}
	nwx := wp / win
	lab := make([]int8, hp*wp)
	for sy := 0; sy < hp; sy++ {
		for sx := 0; sx < wp; sx++ {
			i := ((sy/win)*nwx+sx/win)*win*win + (sy%win)*win + sx%win
			lab[i] = region(sy, hp)*3 + region(sx, wp)
		}
	}
	return lab
}

// patchMerge concatenates each 2×2 neighbourhood (the map zero-padded at
// the bottom/right to even sides) in nn.Unfold's channel-major order
// (channel c of neighbour (dy, dx) at c*4 + dy*2 + dx), normalises and
// reduces it to 2C.
func (m *Model) patchMerge(x []float32, h, w, c int, d *merge) ([]float32, int, int) {
	h2, w2 := (h+1)/2, (w+1)/2
	c4 := 4 * c
	cat := make([]float32, h2*w2*c4)
	parallelFor(h2, w2*c4, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			for xx := 0; xx < w2; xx++ {
				dst := cat[(y*w2+xx)*c4 : (y*w2+xx+1)*c4]
				for dy := 0; dy < 2; dy++ {
					for dx := 0; dx < 2; dx++ {
						sy, sx := 2*y+dy, 2*xx+dx
						if sy >= h || sx >= w {
							continue
						}
						srow := x[(sy*w+sx)*c : (sy*w+sx+1)*c]
						off := dy*2 + dx
						for ch, v := range srow {
							dst[ch*4+off] = v
						}
					}
				}
			}
		}
	})
	layerNormInPlace(cat, c4, d.norm)
	out := make([]float32, h2*w2*d.red.out)
	m.mm().MatMulT(h2*w2, d.red.out, c4, cat, c4, d.red.w, c4, nil, out, d.red.out)
	return out, h2, w2
}

// transposeTo writes the (l, c) token matrix src as (c, l) into dst.
func transposeTo(dst, src []float32, l, c int) {
	const tile = 32
	for i0 := 0; i0 < l; i0 += tile {
		for j0 := 0; j0 < c; j0 += tile {
			for i := i0; i < min(i0+tile, l); i++ {
				for j := j0; j < min(j0+tile, c); j++ {
					dst[j*l+i] = src[i*c+j]
				}
			}
		}
	}
}
