package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Kernel is the fast matrix product. The zero value uses the best kernel
// for this CPU on up to GOMAXPROCS goroutines. A Kernel holds no state:
// copies are equivalent and every method is safe for concurrent use.
type Kernel struct {
	// Workers caps the goroutines one call uses (0: GOMAXPROCS).
	Workers int

	impl  *impl // nil: best
	aMode int   // 0: by shape; 1: always, 2: never read A in place (tests)
}

// Epilogue says what MatMulTEpilogue does to each element of A·Bᵀ before
// it is stored:
//
//	C = act(A·Bᵀ + Bias) + Residual,   act = GELU if GELU is set, else identity
type Epilogue struct {
	// Bias is nil or holds n values, added to every row.
	Bias []float32
	// GELU applies the exact GELU x·Φ(x) = x/2·(1+erf(x/√2)) (as
	// torch.nn.GELU()) after the bias.
	GELU bool
	// Residual is nil or an m×n matrix with row stride LdResidual added
	// last. It must not overlap C, except that it may be C itself (the
	// same first element and LdResidual == ldc, so C += A·Bᵀ + Bias)
	// when GELU is not set.
	Residual   []float32
	LdResidual int
}

// Name is the name of the kernel the Kernel runs ("avx512", "avx2",
// "neon", "go").
func (kr Kernel) Name() string { return kr.pick().name }

func (kr Kernel) pick() *impl {
	if kr.impl != nil {
		return kr.impl
	}
	return best
}

func (kr Kernel) workers() int {
	if kr.Workers > 0 {
		return kr.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// MatMulT computes C = A·Bᵀ (+ bias) on row-major float32 matrices:
//
//	C[i*ldc+j] = bias[j] + Σ_{p<k} A[i*lda+p] * B[j*ldb+p]    for i < m, j < n
//
// A is m×k with row stride lda, B is n×k with row stride ldb, C is m×n
// with row stride ldc; lda, ldb >= k and ldc >= n. bias is nil or holds n
// values. C is overwritten; elements outside the m×n block are not
// touched. A, B and bias must not overlap C. It satisfies swin.MatMul.
func (kr Kernel) MatMulT(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	kr.MatMulTEpilogue(m, n, k, a, lda, b, ldb, c, ldc, Epilogue{Bias: bias})
}

// MatMulTEpilogue computes C = act(A·Bᵀ + ep.Bias) + ep.Residual (see
// Epilogue) with the shapes and strides of MatMulT.
func (kr Kernel) MatMulTEpilogue(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep Epilogue) {
	if m <= 0 || n <= 0 {
		return
	}
	p := problem{m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, bTrans: true, c: c, ldc: ldc}
	p.setEpilogue(ep)
	p.check()
	kr.run(&p)
}

// MatMul computes C = A·B (+ bias) where B is k×n, row-major with row
// stride ldb >= n:
//
//	C[i*ldc+j] = bias[j] + Σ_{p<k} A[i*lda+p] * B[p*ldb+j]
//
// Otherwise as MatMulT. It spares attention·V the transposition of V:
// packing panels of a k×n B copies rows instead of gathering columns.
func (kr Kernel) MatMul(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	p := problem{m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, bias: bias}
	p.check()
	kr.run(&p)
}

// PackedB is a B operand of MatMulT (n×k) packed once into the panels the
// kernel reads, for a matrix multiplied many times (a layer's weights):
// MatMulTPacked then skips the packing (a transposition) that MatMulT does
// on every call. It is tied to the kernel implementation that packed it
// and is read-only, so one PackedB may serve concurrent calls.
type PackedB struct {
	n, k int
	im   *impl
	data []float32 // k slice by k slice, nr-wide panels of all n columns
}

// N and K are the shape of the packed B (n×k).
func (pb *PackedB) N() int { return pb.n }
func (pb *PackedB) K() int { return pb.k }

// PackBT packs the n×k matrix B (row stride ldb >= k) for MatMulTPacked.
func (kr Kernel) PackBT(n, k int, b []float32, ldb int) *PackedB {
	if n < 0 || k < 0 || ldb < k || n > 0 && k > 0 && len(b) < (n-1)*ldb+k {
		panic("gemm: PackBT: bad shape")
	}
	im := kr.pick()
	npan := ceilDiv(n, im.nr)
	pb := &PackedB{n: n, k: k, im: im, data: make([]float32, npan*im.nr*k)}
	nkb, depth := kslices(im, k)
	for kbi := 0; kbi < nkb; kbi++ {
		pc := kbi * depth
		kb := min(depth, k-pc)
		packBT(im, pb.data[pc*npan*im.nr:(pc+kb)*npan*im.nr], b, ldb, 0, n, pc, kb)
	}
	return pb
}

// UnpackT returns the packed matrix as PackBT got it: n×k, row stride k.
func (pb *PackedB) UnpackT() []float32 {
	nr := pb.im.nr
	npan := ceilDiv(pb.n, nr)
	b := make([]float32, pb.n*pb.k)
	nkb, depth := kslices(pb.im, pb.k)
	for kbi := 0; kbi < nkb; kbi++ {
		pc := kbi * depth
		kb := min(depth, pb.k-pc)
		for pan := 0; pan < npan; pan++ {
			d := pb.panels(pc, kb, pan*nr, 1)
			for j := pan * nr; j < min(pb.n, (pan+1)*nr); j++ {
				row := b[j*pb.k+pc : j*pb.k+pc+kb]
				for p := range row {
					row[p] = d[p*nr+j-pan*nr]
				}
			}
		}
	}
	return b
}

// panels returns the packed panels of k slice [pc, pc+kb) for columns
// [j0, j0+npan*nr) (j0 a multiple of nr).
func (pb *PackedB) panels(pc, kb, j0, npan int) []float32 {
	nr := pb.im.nr
	base := pc*ceilDiv(pb.n, nr)*nr + j0*kb
	return pb.data[base : base+npan*nr*kb]
}

// MatMulTPacked computes C = act(A·Bᵀ + ep.Bias) + ep.Residual like
// MatMulTEpilogue, with B (n×k) given packed by PackBT of the same
// kernel implementation.
func (kr Kernel) MatMulTPacked(m int, a []float32, lda int, pb *PackedB, c []float32, ldc int, ep Epilogue) {
	if pb.im != kr.pick() {
		panic("gemm: MatMulTPacked: B packed for another kernel")
	}
	n, k := pb.n, pb.k
	if m <= 0 || n <= 0 {
		return
	}
	p := problem{m: m, n: n, k: k, a: a, lda: lda, bTrans: true, packed: pb, c: c, ldc: ldc}
	p.setEpilogue(ep)
	p.check()
	kr.run(&p)
}

// BatchMatMulT computes batch independent products C_q = A_q·B_qᵀ,
// q < batch, of the shapes of MatMulT (no bias), where A_q starts at
// a[q*strideA], B_q at b[q*strideB] and C_q at c[q*strideC]. Strides may be
// zero (a shared operand). The m×n blocks of the C_q must not share
// elements (they may interleave, as heads writing columns of the same
// rows do). The products run in parallel over the batch.
func (kr Kernel) BatchMatMulT(batch, m, n, k int, a []float32, strideA, lda int, b []float32, strideB, ldb int, c []float32, strideC, ldc int) {
	kr.batch(true, batch, m, n, k, a, strideA, lda, b, strideB, ldb, c, strideC, ldc)
}

// BatchMatMul is BatchMatMulT with every B_q stored k×n (as in MatMul).
func (kr Kernel) BatchMatMul(batch, m, n, k int, a []float32, strideA, lda int, b []float32, strideB, ldb int, c []float32, strideC, ldc int) {
	kr.batch(false, batch, m, n, k, a, strideA, lda, b, strideB, ldb, c, strideC, ldc)
}

func (kr Kernel) batch(bTrans bool, batch, m, n, k int, a []float32, strideA, lda int, b []float32, strideB, ldb int, c []float32, strideC, ldc int) {
	if batch <= 0 || m <= 0 || n <= 0 {
		return
	}
	if strideA < 0 || strideB < 0 || strideC < 0 {
		panic("gemm: batch: negative stride")
	}
	// Check the last product's slices; the earlier ones lie before them.
	last := problem{m: m, n: n, k: k, a: tail(a, (batch-1)*strideA), lda: lda,
		b: tail(b, (batch-1)*strideB), ldb: ldb, bTrans: bTrans,
		c: tail(c, (batch-1)*strideC), ldc: ldc}
	last.check()
	all := kr.workers()
	perItem := int64(m) * int64(n) * int64(max(k, 1))
	j := getJob()
	j.im = kr.pick()
	j.p = problem{m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, bTrans: bTrans, c: c, ldc: ldc, aMode: kr.aMode}
	j.kind, j.strideA, j.strideB, j.strideC = jobBatch, strideA, strideB, strideC
	if batch < all && perItem >= 2*minWorkerMACs {
		// Few big products: parallel inside each.
		for q := 0; q < batch; q++ {
			p := j.item(q)
			kr.run(&p)
		}
	} else {
		j.parts = batch
		workers := int(min(int64(min(all, batch)), max(1, int64(batch)*perItem/minWorkerMACs)))
		j.do(workers)
	}
	putJob(j)
}

// problem is one product with its epilogue.
type problem struct {
	m, n, k int
	a       []float32
	lda     int
	b       []float32
	ldb     int
	bTrans  bool     // B is n×k (A·Bᵀ), else k×n (A·B)
	packed  *PackedB // B packed in advance (b unused)
	c       []float32
	ldc     int
	bias    []float32
	gelu    bool
	res     []float32
	ldr     int
	resFold bool // residual added to the first k slice's sum (no GELU)
	aMode   int  // Kernel.aMode
}

func (p *problem) setEpilogue(ep Epilogue) {
	p.bias, p.gelu, p.res, p.ldr = ep.Bias, ep.GELU, ep.Residual, ep.LdResidual
	p.resFold = p.res != nil && !p.gelu
}

// check panics (a programming error, never a data error) when the
// arguments do not fit the slices.
func (p *problem) check() {
	m, n, k := p.m, p.n, p.k
	bRows, bCols := n, k
	if !p.bTrans {
		bRows, bCols = k, n
	}
	switch {
	case k < 0 || p.lda < k || p.packed == nil && p.ldb < bCols || p.ldc < n:
		panic("gemm: bad strides")
	case len(p.a) < (m-1)*p.lda+k && k > 0, p.packed == nil && bRows > 0 && len(p.b) < (bRows-1)*p.ldb+bCols, len(p.c) < (m-1)*p.ldc+n:
		panic("gemm: slice too short")
	case p.bias != nil && len(p.bias) < n:
		panic("gemm: bias too short")
	}
	if p.res != nil {
		switch {
		case p.ldr < n:
			panic("gemm: bad residual stride")
		case len(p.res) < (m-1)*p.ldr+n:
			panic("gemm: residual too short")
		case p.gelu && unsafe.SliceData(p.res) == unsafe.SliceData(p.c):
			panic("gemm: residual is C with GELU")
		case unsafe.SliceData(p.res) == unsafe.SliceData(p.c) && p.ldr != p.ldc:
			panic("gemm: residual is C with another stride")
		}
	}
}

// minWorkerMACs is the work (multiply-adds) below which a goroutine does
// not pay for itself; spawnMACs is the cost charged per extra goroutine.
const (
	minWorkerMACs = 1 << 17
	spawnMACs     = 1 << 16
	packMACs      = 16 // cost of packing one element, in multiply-adds
)

// stripsPerWorker and minStripPanels bound the finer row strips of a
// product by a pre-packed B (see Kernel.run): at most this many per
// goroutine, each at least this many mr-row panels.
const (
	stripsPerWorker = 4
	minStripPanels  = 8
)

// grid chooses how many row and column strips C is cut into, one goroutine
// per rectangle.
func grid(im *impl, m, n, k, workers int) (wm, wn int) {
	macs := int64(m) * int64(n) * int64(max(k, 1))
	workers = int(min(int64(workers), max(1, macs/minWorkerMACs)))
	mp, np := ceilDiv(m, im.mr), ceilDiv(n, im.nr)
	wm, wn = 1, 1
	bestCost := int64(-1)
	for wt := 1; wt <= workers; wt++ {
		for a := 1; a <= wt; a++ {
			if wt%a != 0 {
				continue
			}
			b := wt / a
			if a > mp || b > np {
				continue
			}
			rows := int64(ceilDiv(mp, a) * im.mr)
			cols := int64(ceilDiv(np, b) * im.nr)
			kk := int64(max(k, 1))
			cost := rows*cols*kk + packMACs*(rows+cols)*kk + spawnMACs*int64(wt-1)
			if bestCost < 0 || cost < bestCost {
				bestCost, wm, wn = cost, a, b
			}
		}
	}
	return wm, wn
}

// run computes the product on up to kr.workers() goroutines.
func (kr Kernel) run(p *problem) {
	im := kr.pick()
	p.aMode = kr.aMode
	wm, wn := grid(im, p.m, p.n, p.k, kr.workers())
	if p.packed != nil && wm*wn > 1 {
		// A pre-packed B costs nothing to share: cut the rows finer
		// than one strip per goroutine, so that the goroutines take
		// strips in turn and a core slowed down (by other work on the
		// machine) does fewer of them instead of holding up the call.
		wm = max(wm, min(wm*stripsPerWorker, ceilDiv(p.m, im.mr)/minStripPanels))
	}
	if wm*wn == 1 {
		w := getWorkspace()
		w.run(im, p, 0, p.m, 0, p.n)
		putWorkspace(w)
		return
	}
	j := getJob()
	j.im, j.p = im, *p
	j.kind, j.wm, j.wn, j.parts = jobGrid, wm, wn, wm*wn
	j.do(wm * wn)
	putJob(j)
}

// job is one parallel step of a call, cut into parts that the calling
// goroutine and helpers take in turn.
type job struct {
	kind    int
	im      *impl
	p       problem // the product, or the batch's first product
	wm, wn  int     // jobGrid: grid of rectangles of C
	strideA int     // jobBatch: strides between products
	strideB int
	strideC int
	parts   int
	next    atomic.Int64
	wg      sync.WaitGroup // helpers asked
}

// Kinds of job.
const (
	jobGrid  = iota // part t: rectangle t of a wm×wn grid of C
	jobBatch        // part t: product t of a batch
)

var jobPool = sync.Pool{New: func() any { return new(job) }}

func getJob() *job { return jobPool.Get().(*job) }

func putJob(j *job) {
	*j = job{}
	jobPool.Put(j)
}

// item is product q of a batch.
func (j *job) item(q int) problem {
	p := j.p
	p.a, p.b, p.c = tail(p.a, q*j.strideA), tail(p.b, q*j.strideB), p.c[q*j.strideC:]
	return p
}

// part computes part t of the job.
func (j *job) part(w *workspace, t int) {
	im, p := j.im, &j.p
	switch j.kind {
	case jobBatch:
		p := j.item(t)
		w.run(im, &p, 0, p.m, 0, p.n)
		return
	}
	mp, np := ceilDiv(p.m, im.mr), ceilDiv(p.n, im.nr)
	ti, tj := t%j.wm, t/j.wm
	i0, i1 := ti*mp/j.wm*im.mr, min((ti+1)*mp/j.wm*im.mr, p.m)
	j0, j1 := tj*np/j.wn*im.nr, min((tj+1)*np/j.wn*im.nr, p.n)
	if i0 < i1 && j0 < j1 {
		w.run(im, p, i0, i1, j0, j1)
	}
}

// work takes parts until none is left.
func (j *job) work() {
	w := getWorkspace()
	for {
		t := int(j.next.Add(1) - 1)
		if t >= j.parts {
			break
		}
		j.part(w, t)
	}
	putWorkspace(w)
}

// do runs the job's parts on the calling goroutine and up to workers-1
// helpers, and returns when all are done.
func (j *job) do(workers int) {
	j.next.Store(0)
	for h := 1; h < min(workers, j.parts); h++ {
		startHelpers(h)
		j.wg.Add(1)
		select {
		case helpQueue <- j:
		default: // every helper busy: do it ourselves
			j.wg.Done()
		}
	}
	j.work()
	j.wg.Wait()
}

// Helpers are goroutines that live as long as the program, started when
// first needed, so that a parallel call starts none.
var (
	helpQueue = make(chan *job, 64)
	helpMu    sync.Mutex
	nHelpers  atomic.Int32
)

func startHelpers(n int) {
	if int(nHelpers.Load()) >= n {
		return
	}
	helpMu.Lock()
	defer helpMu.Unlock()
	for int(nHelpers.Load()) < n {
		nHelpers.Add(1)
		go func() {
			for j := range helpQueue {
				j.work()
				j.wg.Done()
			}
		}()
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// tail is s[off:], or an empty slice when off is past the end (an operand
// that is not read when k == 0).
func tail(s []float32, off int) []float32 { return s[min(off, len(s)):] }

// workspace holds one goroutine's packing buffers.
type workspace struct {
	a, b  []float32 // packed A block, packed B slice
	dummy [1]float32
}

func (w *workspace) ensure(im *impl, na, nb int) {
	// 8 floats of slack after the packed A block: see packA.
	if len(w.a) < na+8 {
		w.a = make([]float32, max(na, im.mc*im.kc)+8)
	}
	if len(w.b) < nb {
		w.b = make([]float32, nb)
	}
}

var freeList struct {
	sync.Mutex
	ws []*workspace
}

func getWorkspace() *workspace {
	freeList.Lock()
	defer freeList.Unlock()
	if n := len(freeList.ws); n > 0 {
		w := freeList.ws[n-1]
		freeList.ws = freeList.ws[:n-1]
		return w
	}
	return new(workspace)
}

func putWorkspace(w *workspace) {
	freeList.Lock()
	defer freeList.Unlock()
	if len(freeList.ws) < 4*runtime.GOMAXPROCS(0)+2 {
		freeList.ws = append(freeList.ws, w)
	}
}

// kslices returns the number of k slices and their depth (the last one
// may be shallower): fixed by k and the kernel alone, so that the order of
// the sum does not depend on anything else.
func kslices(im *impl, k int) (n, depth int) {
	n = max(1, ceilDiv(k, im.kc))
	return n, ceilDiv(k, n)
}

// slice is one (column block, k slice) step of a product: its packed B is
// bp.
type slice struct {
	jc, nb, npan int
	pc, kb       int
	first, last  bool
	bp           []float32
}

func newSlice(im *impl, p *problem, jc, jend, kbi int) slice {
	nkb, depth := kslices(im, p.k)
	s := slice{jc: jc, nb: min(im.nc, jend-jc), pc: kbi * depth, first: kbi == 0, last: kbi == nkb-1}
	s.npan = ceilDiv(s.nb, im.nr)
	s.kb = min(depth, p.k-s.pc)
	return s
}

// packB packs panels [pan0, pan1) of the slice's B.
func (s *slice) packB(im *impl, p *problem, pan0, pan1 int) {
	nr, kb := im.nr, s.kb
	j0 := s.jc + pan0*nr
	nb := min(s.nb-pan0*nr, (pan1-pan0)*nr)
	dst := s.bp[pan0*nr*kb : pan1*nr*kb]
	if p.bTrans {
		packBT(im, dst, p.b, p.ldb, j0, nb, s.pc, kb)
	} else {
		packBN(im, dst, p.b, p.ldb, j0, nb, s.pc, kb)
	}
}

// run computes rows [i0, i1) and columns [j0, j1) of C on this goroutine.
func (w *workspace) run(im *impl, p *problem, i0, i1, j0, j1 int) {
	nkb, depth := kslices(im, p.k)
	nb := min(im.nc, ceilDiv(j1-j0, im.nr)*im.nr) * depth
	if p.packed != nil {
		nb = 0
	}
	w.ensure(im, min(im.mc, ceilDiv(i1-i0, im.mr)*im.mr)*depth, nb)
	for jc := j0; jc < j1; jc += im.nc {
		for kbi := 0; kbi < nkb; kbi++ {
			s := newSlice(im, p, jc, j1, kbi)
			if p.packed != nil {
				s.bp = p.packed.panels(s.pc, s.kb, jc, s.npan)
			} else {
				s.bp = w.b[:s.npan*im.nr*s.kb]
				s.packB(im, p, 0, s.npan)
			}
			for ic := i0; ic < i1; ic += im.mc {
				w.block(im, p, &s, ic, min(im.mc, i1-ic))
			}
		}
	}
}

// block computes rows [ic, ic+mb) of the slice s (packing them from A
// into w.a unless A is read in place).
func (w *workspace) block(im *impl, p *problem, s *slice, ic, mb int) {
	mr, nr, kb := im.mr, im.nr, s.kb
	mpan := ceilDiv(mb, mr)
	direct := kb > 0 && directA(im, p, s.npan)
	var ap []float32
	if !direct {
		ap = w.a[:mpan*mr*kb]
		packA(im, ap, p.a, p.lda, ic, mb, s.pc, kb)
	} else if rem := mb % mr; rem != 0 {
		// The last, partial panel still needs zero rows.
		ap = w.a[:mr*kb]
		packA(im, ap, p.a, p.lda, ic+mb-rem, rem, s.pc, kb)
	}
	for jp := 0; jp < s.npan; jp++ {
		jr := jp * nr
		cols := min(nr, s.nb-jr)
		bptr := &w.dummy[0]
		if kb > 0 {
			bptr = &s.bp[jp*nr*kb]
		}
		for ip := 0; ip < mpan; ip++ {
			ir := ip * mr
			rows := min(mr, mb-ir)
			aptr, rsa, csa := &w.dummy[0], 1, mr
			switch {
			case kb == 0:
			case direct && rows == mr:
				aptr, rsa, csa = &p.a[(ic+ir)*p.lda+s.pc], p.lda, 1
			case direct:
				aptr = &ap[0]
			default:
				aptr = &ap[ip*mr*kb]
			}
			w.tileOp(im, p, ic+ir, s.jc+jr, rows, cols, kb, aptr, rsa, csa, bptr, s.first, s.last)
		}
	}
}

// directA reports whether the kernel reads A where it is instead of from
// packed panels: worth it when each A panel meets few B panels, so that
// packing costs more than it saves.
func directA(im *impl, p *problem, npan int) bool {
	switch p.aMode {
	case 1:
		return true
	case 2:
		return false
	}
	return npan <= directMaxPanels
}

const directMaxPanels = 8

// tileOp computes one rows×cols tile of C at (i, j) from packed panels.
func (w *workspace) tileOp(im *impl, p *problem, i, j, rows, cols, kb int, a *float32, rsa, csa int, b *float32, first, last bool) {
	ci := i*p.ldc + j
	var x, bias *float32
	ldx := 0
	if first {
		if p.bias != nil {
			bias = &p.bias[j]
		}
		if p.resFold {
			x, ldx = &p.res[i*p.ldr+j], p.ldr
		}
	} else {
		x, ldx = &p.c[ci], p.ldc
	}
	im.micro(kb, a, rsa, csa, b, &p.c[ci], p.ldc, x, ldx, bias, rows, cols)
	if last && p.gelu {
		var r *float32
		if p.res != nil {
			r = &p.res[i*p.ldr+j]
		}
		im.gelu(rows, cols, &p.c[ci], p.ldc, r, p.ldr)
	}
}
