package swin

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/glipctl/glipctl/internal/gemm"
	"github.com/glipctl/glipctl/internal/parallel"
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
	// Workers caps the goroutines of the pass (0: GOMAXPROCS); 1 runs it
	// on the calling goroutine alone (for callers that run several passes
	// at once). The result does not depend on it.
	Workers int
	// Profile, when not nil, collects the time and FLOPs of the pass per
	// category of work (nil: nothing is measured, no clock is read).
	Profile *Profile
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
	procs := runtime.GOMAXPROCS(0)
	if opts.Workers > 0 {
		procs = min(procs, opts.Workers)
	}
	mm := m.mm()
	if _, ok := mm.(PackedMatMul); !ok {
		m.rawWeights()
	}
	if procs == 1 {
		mm = serialMatMul(mm)
	}
	// Images of a batch run in parallel, one goroutine and one workspace
	// each, on stacks of up to maxStack images (their tokens one after the
	// other, so that each product multiplies a weight matrix by the rows of
	// every image of the stack); the last images (fewer than procs) run one
	// after the other with every product and pass parallel inside. Either
	// way an image's result does not depend on how it was scheduled.
	together := 0
	switch {
	case procs == 1:
		together = x.N
	case x.N >= procs:
		together = x.N / procs * procs
	}
	if together > 0 {
		mm := serialMatMul(mm)
		stack := min(maxStack, together/procs)
		stacks := (together + stack - 1) / stack
		var next atomic.Int64
		var wg sync.WaitGroup
		wg.Add(procs)
		for w := 0; w < procs; w++ {
			go func() {
				defer wg.Done()
				ws := m.getWorkspace()
				defer m.putWorkspace(ws)
				for {
					t := int(next.Add(1) - 1)
					if t >= stacks {
						return
					}
					n0, n1 := t*stack, min((t+1)*stack, together)
					m.forwardStack(ws, mm, 1, x.Data[n0*plane:n1*plane], n1-n0, x.H, x.W, sem, outs, feats, n0, opts.Profile)
				}
			}()
		}
		wg.Wait()
	}
	if together < x.N {
		ws := m.getWorkspace()
		for n := together; n < x.N; n++ {
			m.forwardStack(ws, mm, procs, x.Data[n*plane:(n+1)*plane], 1, x.H, x.W, sem, outs, feats, n, opts.Profile)
		}
		m.putWorkspace(ws)
	}
	return feats, nil
}

func (m *Model) mm() MatMul {
	if m.MatMul != nil {
		return m.MatMul
	}
	return DefaultMatMul
}

// workspace holds the buffers of one forward pass of one image, reused by
// every block and by later calls (Model.pool), so that a pass allocates
// nothing but its outputs in steady state. One goroutine uses it at a
// time.
type workspace struct {
	x, x2, t, wins, qkv, scores, hid, cols []float32
	masks                                  []float32   // shiftMasks.tab
	mixed                                  []bool      // shiftMasks.mixed
	vt                                     [][]float32 // per goroutine, kernels without BatchMatMul
	src                                    []int32
	labels                                 []int8
}

func (m *Model) getWorkspace() *workspace {
	if ws, ok := m.pool.Get().(*workspace); ok {
		return ws
	}
	return new(workspace)
}

func (m *Model) putWorkspace(ws *workspace) { m.pool.Put(ws) }

// grow returns (*buf)[:n], reallocating when it is too short. Callers
// overwrite what they use.
func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	*buf = (*buf)[:n]
	return *buf
}

// maxStack is the most images forwardStack runs together (4 measured
// best on Swin-T 224: 18% faster a image than one at a time on one core;
// 8 is slower again, its buffers spilling out of cache).
const maxStack = 4

// forwardStack runs nb CHW images (imgs holds them one after the other)
// together and writes images n0..n0+nb-1 of each output feature. par is
// the number of goroutines its passes may use. The tokens of the images
// are stacked: image b's map is rows [b*h*w, (b+1)*h*w) of x.
func (m *Model) forwardStack(ws *workspace, mm MatMul, par int, imgs []float32, nb, h, w int, sem Semantics, outs []int, feats []Feature, n0 int, prof *Profile) {
	prof.pass()
	t0 := prof.start()
	x, hh, ww := m.patchEmbed(ws, mm, par, imgs, nb, h, w)
	prof.add(OpEmbed, t0, 2*int64(nb*hh*ww)*int64(m.Arch.EmbedDim)*int64(m.Arch.InChans*m.Arch.PatchSize*m.Arch.PatchSize))
	for i := range m.stages {
		st := &m.stages[i]
		for j := range st.blocks {
			m.blockForward(ws, mm, par, nb, x, hh, ww, st, &st.blocks[j], m.Arch.shiftFor(j, hh, ww, sem), prof)
		}
		if oi := slices.Index(outs, i); oi >= 0 {
			t0 := prof.start()
			f := &feats[oi]
			ln, ok := m.norms[i]
			var y []float32
			switch {
			case ok:
				y = layerNormRows(par, grow(&ws.t, len(x)), x, st.dim, ln)
			case sem == GLIP: // norm0 of GLIP: identity
				y = x
			default: // a missing mmpretrain norm0: LayerNorm(1, 0)
				y = layerNormRows(par, grow(&ws.t, len(x)), x, st.dim, layerNorm{})
			}
			prof.add(OpNorm, t0, 0)
			t0 = prof.start()
			per := f.C * f.H * f.W
			for b := 0; b < nb; b++ {
				transposeTo(f.Data[(n0+b)*per:(n0+b+1)*per], y[b*per:(b+1)*per], hh*ww, st.dim)
			}
			prof.add(OpOther, t0, 0)
		}
		if st.down != nil {
			t0 := prof.start()
			flops := 2 * int64(nb*((hh+1)/2)*((ww+1)/2)) * int64(st.down.red.in) * int64(st.down.red.out)
			x, hh, ww = m.patchMerge(ws, mm, par, nb, x, hh, ww, st.dim, st.down)
			prof.add(OpMerge, t0, flops)
		}
	}
}

// patchEmbed is the patch convolution (kernel = stride = patch, the input
// zero-padded at the bottom/right to a multiple of the patch) followed by
// patch_embed.norm. It returns the tokens (row-major map, C per token) in
// ws.x.
func (m *Model) patchEmbed(ws *workspace, mm MatMul, par int, imgs []float32, nb, h, w int) ([]float32, int, int) {
	p := m.Arch.PatchSize
	cin := m.Arch.InChans
	e := m.Arch.EmbedDim
	hh, ww := (h+p-1)/p, (w+p-1)/p
	kk := cin * p * p
	cols := grow(&ws.cols, nb*hh*ww*kk)
	plane := cin * h * w
	parallel.For(par, nb*hh, ww*kk, func(lo, hi int) {
		for by := lo; by < hi; by++ {
			img := imgs[by/hh*plane:]
			y := by % hh
			cols := cols[by/hh*hh*ww*kk:]
			for x := 0; x < ww; x++ {
				col := cols[(y*ww+x)*kk : (y*ww+x+1)*kk]
				for c := 0; c < cin; c++ {
					for ky := 0; ky < p; ky++ {
						iy := y*p + ky
						dst := col[c*p*p+ky*p : c*p*p+ky*p+p]
						if iy >= h {
							clear(dst)
							continue
						}
						row := img[c*h*w+iy*w:]
						for kx := range dst {
							if ix := x*p + kx; ix < w {
								dst[kx] = row[ix]
							} else {
								dst[kx] = 0
							}
						}
					}
				}
			}
		}
	})
	tok := grow(&ws.x, nb*hh*ww*e)
	mm.MatMulT(nb*hh*ww, e, kk, cols, kk, m.patchW, kk, m.patchB, tok, e)
	layerNormRows(par, tok, tok, e, m.patchN)
	return tok, hh, ww
}

// blockForward runs one Swin block on the tokens x (h×w map, st.dim each)
// in place: x += attn(norm1(x)); x += mlp(norm2(x)).
func (m *Model) blockForward(ws *workspace, mm MatMul, par, nb int, x []float32, h, w int, st *stage, b *block, shift int, prof *Profile) {
	c := st.dim
	win := m.Arch.Window
	ntok := win * win
	hp, wp := (h+win-1)/win*win, (w+win-1)/win*win
	nwy, nwx := hp/win, wp/win
	nwin := nwy * nwx

	// norm1, written straight into the (padded, cyclically shifted) map
	// partitioned into windows: window token i is token src[i] of x, or
	// padding (zero) when src[i] < 0.
	// Image b's window tokens follow image b-1's.
	t0 := prof.start()
	src := windowSources(grow(&ws.src, hp*wp), h, w, hp, wp, win, shift)
	l := h * w
	nsrc := len(src)
	wins := grow(&ws.wins, nb*nwin*ntok*c)
	parallel.For(par, nb*nsrc, c*4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst := wins[i*c : (i+1)*c]
			if s := int(src[i%nsrc]); s >= 0 {
				s += i / nsrc * l
				layerNormRow(dst, x[s*c:(s+1)*c], b.norm1)
			} else {
				clear(dst)
			}
		}
	})
	prof.add(OpNorm, t0, 0)
	t0 = prof.start()
	wrows := int64(nb * nwin * ntok)
	qkv := grow(&ws.qkv, nb*nwin*ntok*3*c)
	linearOp(mm, par, nb*nwin*ntok, wins, &b.qkv, qkv, false, nil)
	prof.add(OpQKV, t0, 2*wrows*int64(3*c)*int64(c))
	t0 = prof.start()

	var labels []int8
	if shift > 0 {
		labels = maskLabels(grow(&ws.labels, hp*wp), hp, wp, win, shift)
	}
	att := wins // every element is overwritten by the attention
	m.attention(ws, mm, par, qkv, att, nb*nwin, nwin, ntok, c, st.heads, b, labels)
	prof.add(OpAttention, t0, 4*wrows*int64(ntok)*int64(c))
	t0 = prof.start()
	projFlops := 2 * wrows * int64(c) * int64(c)

	// The projection, then the partition and the shift reversed, the
	// padding cropped and the residual added in one pass. When the
	// windows are the map itself (one window column, no shift, no
	// padding) the residual goes into the product's store.
	if shift == 0 && nwx == 1 && hp == h && wp == w {
		linearOp(mm, par, nb*nwin*ntok, att, &b.proj, x, false, x)
		prof.add(OpProj, t0, projFlops)
	} else {
		y := qkv[:nb*nwin*ntok*c] // qkv is no longer needed
		linearOp(mm, par, nb*nwin*ntok, att, &b.proj, y, false, nil)
		prof.add(OpProj, t0, projFlops)
		t0 = prof.start()
		parallel.For(par, nb*nsrc, c, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if s := int(src[i%nsrc]); s >= 0 {
					s += i / nsrc * l
					addTo(x[s*c:(s+1)*c], y[i*c:(i+1)*c])
				}
			}
		})
		prof.add(OpOther, t0, 0)
	}

	// MLP: x += fc2(GELU(fc1(norm2(x)))).
	t0 = prof.start()
	rows := nb * l
	t := layerNormRows(par, grow(&ws.t, rows*c), x, c, b.norm2)
	prof.add(OpNorm, t0, 0)
	t0 = prof.start()
	hid := b.fc1.out
	mlpFlops := 2 * int64(rows) * int64(hid) * int64(c)
	hbuf := grow(&ws.hid, rows*hid)
	linearOp(mm, par, rows, t, &b.fc1, hbuf, true, nil)
	prof.add(OpFC1, t0, mlpFlops)
	t0 = prof.start()
	linearOp(mm, par, rows, hbuf, &b.fc2, x, false, x)
	prof.add(OpFC2, t0, mlpFlops)
}

// linearOp computes c = act(a·Wᵀ + bias) for the rows×in matrix a (act is
// GELU when gelu is set), plus c itself when res is c (the only residual
// the pass uses): on packed weights with the epilogue fused when the
// kernel has PackedMatMul, fused on plain weights with EpilogueMatMul,
// else MatMulT and separate passes.
func linearOp(mm MatMul, par, rows int, a []float32, l *linear, c []float32, gelu bool, res []float32) {
	ep := gemm.Epilogue{Bias: l.b, GELU: gelu}
	if res != nil {
		ep.Residual, ep.LdResidual = res, l.out
	}
	if pm, ok := mm.(PackedMatMul); ok {
		pm.MatMulTPacked(rows, a, l.in, l.pw, c, l.out, ep)
		return
	}
	if em, ok := mm.(EpilogueMatMul); ok {
		em.MatMulTEpilogue(rows, l.out, l.in, a, l.in, l.w, l.in, c, l.out, ep)
		return
	}
	n := l.out
	if res == nil {
		mm.MatMulT(rows, n, l.in, a, l.in, l.w, l.in, l.b, c, n)
		if gelu {
			parallel.For(par, rows, n*8, func(lo, hi int) { geluInPlace(c[lo*n : hi*n]) })
		}
		return
	}
	// c += a·Wᵀ + bias, a row block at a time through a scratch buffer.
	const block = 64
	parallel.For(par, (rows+block-1)/block, block*n*l.in, func(lo, hi int) {
		tmp := make([]float32, block*n)
		for bi := lo; bi < hi; bi++ {
			r0, r1 := bi*block, min((bi+1)*block, rows)
			mm.MatMulT(r1-r0, n, l.in, a[r0*l.in:], l.in, l.w, l.in, l.b, tmp, n)
			addTo(c[r0*n:r1*n], tmp[:(r1-r0)*n])
		}
	})
}

// scoreBudget is the number of attention scores (float32) computed at a
// time: windows are taken in groups whose scores stay in cache between the
// product, the softmax and the product with V.
const scoreBudget = 1 << 18

// attention is the window attention of a block: for every window and
// head, softmax(q·kᵀ·scale + bias + mask)·v, from qkv (window tokens × 3C,
// [q | k | v], heads contiguous in each) into att (window tokens × C).
// Window wi has the mask labels of window wi % perImage.
func (m *Model) attention(ws *workspace, mm MatMul, par int, qkv, att []float32, nwin, perImage, ntok, c, heads int, b *block, labels []int8) {
	hd := c / heads
	c3 := 3 * c
	nn := ntok * ntok
	scale := float32(1 / math.Sqrt(float64(hd)))
	var masks shiftMasks
	if labels != nil {
		masks = newShiftMasks(&ws.masks, &ws.mixed, labels, perImage, ntok)
	}
	if _, ok := mm.(BatchMatMul); ok {
		m.attentionFused(ws, serialMatMul(mm).(BatchMatMul), par, qkv, att, nwin, perImage, ntok, c, heads, b, &masks)
		return
	}
	// A kernel without BatchMatMul: windows in groups whose scores stay in
	// cache, MatMulT per (window, head) with V transposed.
	group := max(1, min(nwin, scoreBudget/(heads*nn)))
	scores := grow(&ws.scores, group*heads*nn)
	for w0 := 0; w0 < nwin; w0 += group {
		g := min(group, nwin-w0)
		q0 := w0 * ntok * c3 // this group's qkv rows
		// Scores: scores[(wi*heads+head)*nn + i*ntok + j] = q_i·k_j.
		parallel.For(par, g*heads, nn*hd*2, func(lo, hi int) {
			for task := lo; task < hi; task++ {
				wi, head := task/heads, task%heads
				r := q0 + wi*ntok*c3 + head*hd
				mm.MatMulT(ntok, ntok, hd, qkv[r:], c3, qkv[r+c:], c3, nil, scores[task*nn:], ntok)
			}
		})
		// Scale, relative position bias, shift mask and softmax, one pass
		// per row.
		parallel.For(par, g*heads*ntok, ntok*8, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				task, i := r/ntok, r%ntok
				wi, head := w0+task/heads, task%heads
				softmaxRow(scores[r*ntok:(r+1)*ntok], scale, b.bias[head*nn+i*ntok:head*nn+(i+1)*ntok], masks.row(wi%perImage, i))
			}
		})
		// att = P·v.
		a0 := w0 * ntok * c
		workers := min(par, g*heads)
		for len(ws.vt) < workers {
			ws.vt = append(ws.vt, nil)
		}
		var next atomic.Int64
		parallel.For(workers, workers, 1<<20, func(lo, hi int) {
			for wk := lo; wk < hi; wk++ {
				vt := grow(&ws.vt[wk], hd*ntok)
				for {
					task := int(next.Add(1) - 1)
					if task >= g*heads {
						break
					}
					wi, head := task/heads, task%heads
					v := qkv[q0+wi*ntok*c3+2*c+head*hd:]
					for tkn := 0; tkn < ntok; tkn++ {
						for d, val := range v[tkn*c3 : tkn*c3+hd] {
							vt[d*ntok+tkn] = val
						}
					}
					mm.MatMulT(ntok, hd, ntok, scores[task*nn:], ntok, vt, ntok, nil, att[a0+wi*ntok*c+head*hd:], c)
				}
			}
		})
	}
}

// attentionFused is attention with every (window, head) done whole by one
// goroutine: its scores Q·Kᵀ, the softmax rows and P·V, the scores staying
// in cache between the three. bm computes on the calling goroutine alone.
// It replaced three phases per group of windows (products batched over
// windows or heads, then every softmax row, then the other products),
// which took about 6% more CPU time on Swin-T 224 and synchronised the
// goroutines three times a group.
func (m *Model) attentionFused(ws *workspace, bm BatchMatMul, par int, qkv, att []float32, nwin, perImage, ntok, c, heads int, b *block, masks *shiftMasks) {
	hd := c / heads
	c3 := 3 * c
	nn := ntok * ntok
	scale := float32(1 / math.Sqrt(float64(hd)))
	tasks := nwin * heads
	workers := max(1, min(par, tasks))
	scores := grow(&ws.scores, workers*nn)
	var next atomic.Int64
	parallel.For(workers, workers, 1<<20, func(lo, hi int) {
		for wk := lo; wk < hi; wk++ {
			s := scores[wk*nn : (wk+1)*nn]
			for {
				task := int(next.Add(1) - 1)
				if task >= tasks {
					break
				}
				wi, head := task/heads, task%heads
				r := wi*ntok*c3 + head*hd
				bm.BatchMatMulT(1, ntok, ntok, hd, qkv[r:], 0, c3, qkv[r+c:], 0, c3, s, 0, ntok)
				bias := b.bias[head*nn : (head+1)*nn]
				for i := 0; i < ntok; i++ {
					softmaxRow(s[i*ntok:(i+1)*ntok], scale, bias[i*ntok:(i+1)*ntok], masks.row(wi%perImage, i))
				}
				bm.BatchMatMul(1, ntok, hd, ntok, s, 0, ntok, qkv[r+2*c:], 0, c3, att[wi*ntok*c+head*hd:], 0, c)
			}
		}
	})
}

// windowSources maps each window token (window-major, then row-major
// within the window) of the shifted, padded hp×wp map to its token in the
// h×w map, or -1 for padding.
func windowSources(src []int32, h, w, hp, wp, win, shift int) []int32 {
	nwx := wp / win
	for sy := 0; sy < hp; sy++ {
		py := (sy + shift) % hp
		for sx := 0; sx < wp; sx++ {
			px := (sx + shift) % wp
			i := ((sy/win)*nwx+sx/win)*win*win + (sy%win)*win + sx%win
			if py < h && px < w {
				src[i] = int32(py*w + px)
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
func maskLabels(lab []int8, hp, wp, win, shift int) []int8 {
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
func (m *Model) patchMerge(ws *workspace, mm MatMul, par, nb int, xs []float32, h, w, c int, d *merge) ([]float32, int, int) {
	h2, w2 := (h+1)/2, (w+1)/2
	c4 := 4 * c
	cats := grow(&ws.cols, nb*h2*w2*c4)
	parallel.For(par, nb*h2, w2*c4*2, func(lo, hi int) {
		for by := lo; by < hi; by++ {
			y := by % h2
			x := xs[by/h2*h*w*c:]
			cat := cats[by/h2*h2*w2*c4:]
			for xx := 0; xx < w2; xx++ {
				dst := cat[(y*w2+xx)*c4 : (y*w2+xx+1)*c4]
				for dy := 0; dy < 2; dy++ {
					for dx := 0; dx < 2; dx++ {
						sy, sx := 2*y+dy, 2*xx+dx
						off := dy*2 + dx
						if sy >= h || sx >= w {
							for ch := 0; ch < c; ch++ {
								dst[ch*4+off] = 0
							}
							continue
						}
						srow := x[(sy*w+sx)*c : (sy*w+sx+1)*c]
						for ch, v := range srow {
							dst[ch*4+off] = v
						}
					}
				}
				layerNormRow(dst, dst, d.norm)
			}
		}
	})
	// The merged map goes to whichever of ws.x, ws.x2 does not hold x.
	buf := &ws.x
	if len(ws.x) > 0 && &ws.x[0] == &xs[0] {
		buf = &ws.x2
	}
	out := grow(buf, nb*h2*w2*d.red.out)
	linearOp(mm, par, nb*h2*w2, cats, &d.red, out, false, nil)
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
