package convert

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync/atomic"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/stats"
)

// batchElems bounds the elements converted at a time (8 MiB of float64
// scratch at most, three buffers of it).
const batchElems = 1 << 17

// outData produces an output tensor's bytes from its source on demand: it
// reads the needed source elements, reorders and converts them. A format
// writer reads it front to back in chunks; while it does, outData
// accumulates the output's statistics and the conversion error, so the
// values pass through memory once. Reads out of order are served too, but
// then the statistics are computed by a separate pass (see complete).
type outData struct {
	ctx   context.Context
	o     *Output
	unit  int64 // elements per unit: 1, a Q8_0 block, or a row when reordering
	units int64
	inUB  int64 // source bytes per unit
	outUB int64 // output bytes per unit
	lossy bool  // output dtype differs: measure the conversion error

	sh   *scratch // buffers, and the lock that serialises reads
	done int64    // units whose values are in st and er (or sent to pipe)
	// pipe, if set, accounts the values on another goroutine; st and er
	// are then complete once it is closed.
	pipe *statsPipe
	st   stats.Accumulator
	er   errAcc
}

func newOutData(ctx context.Context, o *Output) (*outData, error) {
	d := &outData{ctx: ctx, o: o, unit: 1, lossy: o.DType != o.Src.DType, sh: &scratch{}}
	numel := o.Src.Numel()
	shape := o.Shape()
	switch {
	case o.Reorder:
		d.unit = shape[len(shape)-1]
	case o.DType == ckpt.Q8_0 || o.Src.DType == ckpt.Q8_0:
		d.unit = ckpt.Q8Block
	}
	if d.unit <= 0 {
		d.unit = 1
	}
	if numel%d.unit != 0 {
		return nil, fmt.Errorf("tensor %q: %d elements are not whole units of %d", o.Src.Name, numel, d.unit)
	}
	d.units = numel / d.unit
	var ok1, ok2 bool
	d.inUB, ok1 = o.Src.DType.Bytes(d.unit)
	d.outUB, ok2 = o.DType.Bytes(d.unit)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("tensor %q: cannot convert %s to %s in units of %d", o.Src.Name, o.Src.DType, o.DType, d.unit)
	}
	return d, nil
}

// tensor returns the output tensor, reading through d.
func (d *outData) tensor() *ckpt.Tensor {
	return &ckpt.Tensor{Name: d.o.To, DType: d.o.DType, Shape: d.o.Shape(), Data: d}
}

func (d *outData) size() int64 { return d.units * d.outUB }

func (d *outData) ReadAt(p []byte, off int64) (int, error) {
	d.sh.mu.Lock()
	defer d.sh.mu.Unlock()
	total := d.size()
	if off < 0 || off > total {
		return 0, fmt.Errorf("tensor %q: read at %d outside %d bytes", d.o.To, off, total)
	}
	end := min(off+int64(len(p)), total)
	n := 0
	if end > off {
		u0, u1 := off/d.outUB, (end+d.outUB-1)/d.outUB
		per := max(1, batchElems/d.unit)
		for u := u0; u < u1; {
			if err := d.ctx.Err(); err != nil {
				return n, err
			}
			b := min(u1, u+per)
			out, err := d.produce(u, b)
			if err != nil {
				return n, err
			}
			base := u * d.outUB
			lo, hi := max(off, base)-base, min(end, b*d.outUB)-base
			n += copy(p[n:], out[lo:hi])
			u = b
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// produce returns the output bytes of units [u0, u1), valid until the next
// call, and accounts their values when they are the next ones.
func (d *outData) produce(u0, u1 int64) ([]byte, error) {
	src, sh := d.o.Src, d.sh
	cnt := int((u1 - u0) * d.unit)
	sh.raw = grow(sh.raw, int((u1-u0)*d.inUB))
	if err := src.ReadChunk(ckpt.Chunk{First: u0 * d.unit, Count: int64(cnt), Off: u0 * d.inUB, Len: int64(len(sh.raw))}, sh.raw); err != nil {
		return nil, err
	}
	raw := sh.raw
	if d.o.Reorder {
		raw = glip.ReorderMerge(raw, []int64{u1 - u0, d.unit}, src.DType.Size(), d.o.Inverse)
	}
	// Account the units not yet seen: a read may begin inside a unit that
	// the previous read already covered (rows straddle chunk boundaries).
	account := u0 <= d.done && d.done < u1
	from := 0
	if account {
		from = int((d.done - u0) * d.unit)
	}
	out := raw
	if d.lossy {
		sh.vals = grow(sh.vals, cnt)
		if err := ckpt.DecodeFloat64(src.DType, raw, sh.vals); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", src.Name, err)
		}
		sh.out = grow(sh.out, int((u1-u0)*d.outUB))
		if err := encode(d.o.DType, sh.vals, sh.out); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", src.Name, err)
		}
		out = sh.out
	}
	if account {
		k := d.done - u0 // units already accounted
		if d.pipe != nil {
			d.pipe.send(d, raw[k*d.inUB:], out[k*d.outUB:], cnt-from)
		} else if err := d.account(raw[k*d.inUB:], out[k*d.outUB:], cnt-from, &sh.acc); err != nil {
			return nil, err
		}
		d.done = u1
	}
	return out, nil
}

// accountBufs are the buffers of outData.account.
type accountBufs struct {
	vals, ovals []float64
	f32         []float32
}

// account adds cnt values to the statistics (and, for a lossy dtype, the
// conversion error): raw holds them in the source dtype, out (if lossy)
// in the output dtype. The statistics pipe and produce both account
// through it, so they give the same bits.
func (d *outData) account(raw, out []byte, cnt int, b *accountBufs) error {
	src := d.o.Src
	if !d.lossy {
		var vals []float64
		if !floatStats(src.DType) {
			b.vals = grow(b.vals, cnt)
			if err := ckpt.DecodeFloat64(src.DType, raw, b.vals); err != nil {
				return fmt.Errorf("tensor %q: %w", src.Name, err)
			}
			vals = b.vals
		}
		if err := accumulate(&d.st, src.DType, raw, cnt, vals, &b.f32); err != nil {
			return fmt.Errorf("tensor %q: %w", src.Name, err)
		}
		return nil
	}
	b.vals, b.ovals = grow(b.vals, cnt), grow(b.ovals, cnt)
	if err := ckpt.DecodeFloat64(src.DType, raw, b.vals); err != nil {
		return fmt.Errorf("tensor %q: %w", src.Name, err)
	}
	if err := ckpt.DecodeFloat64(d.o.DType, out, b.ovals); err != nil {
		return fmt.Errorf("tensor %q: %w", d.o.To, err)
	}
	d.er.add(b.vals, b.ovals)
	if err := accumulate(&d.st, d.o.DType, out, cnt, b.ovals, &b.f32); err != nil {
		return fmt.Errorf("tensor %q: %w", d.o.To, err)
	}
	return nil
}

// floatStats reports whether values of dt go through the float32
// statistics (stats.Accumulator.AddFloat32, as inspect takes them): the
// dtypes whose values are all float32 values.
func floatStats(dt ckpt.DType) bool {
	switch dt {
	case ckpt.F32, ckpt.F16, ckpt.BF16, ckpt.Q8_0:
		return true
	}
	return false
}

// accumulate adds n values to st: when floatStats(dt), those stored as dt
// at the start of b (decoded into *f32 unless b is float32 already), else
// vals, the same values as float64 (unused otherwise: may be nil). So a
// report's statistics are computed as inspect computes them.
func accumulate(st *stats.Accumulator, dt ckpt.DType, b []byte, n int, vals []float64, f32 *[]float32) error {
	if !floatStats(dt) {
		st.AddFloat64(vals)
		return nil
	}
	if dt == ckpt.F32 {
		if v, ok := ckpt.Float32View(b[:4*n]); ok {
			st.AddFloat32(v)
			return nil
		}
	}
	*f32 = grow(*f32, n)
	if err := ckpt.DecodeFloat32(dt, b, *f32); err != nil {
		return err
	}
	st.AddFloat32(*f32)
	return nil
}

// complete makes sure the statistics cover the whole tensor: when the
// writer did not read it front to back, it runs one more pass.
func (d *outData) complete() error {
	if d.done == d.units {
		return nil
	}
	fallbackPasses.Add(1)
	fresh, err := newOutData(d.ctx, d.o)
	if err != nil {
		return err
	}
	t := fresh.tensor()
	buf := make([]byte, 0)
	for _, c := range t.Chunks(1 << 20) {
		buf = grow(buf, int(c.Len))
		if err := t.ReadChunk(c, buf); err != nil {
			return err
		}
	}
	d.sh.mu.Lock()
	defer d.sh.mu.Unlock()
	d.st, d.er, d.done = fresh.st, fresh.er, fresh.done
	return nil
}

// fallbackPasses counts the extra passes complete made (tests check that
// the writers need none).
var fallbackPasses atomic.Int64

// errAcc measures how far converted values are from their source values.
type errAcc struct {
	maxAbs    float64
	sumSqErr  float64
	sumSqRef  float64
	changed   int64 // elements whose value changed
	nonFinite int64 // finite source values that became ±Inf or NaN, or non-finite ones that changed
}

func (e *errAcc) add(src, out []float64) {
	for i, s := range src {
		o := out[i]
		switch {
		case s != s:
			if o != o {
				continue
			}
			e.nonFinite++
			e.changed++
			continue
		case math.IsInf(s, 0):
			if o == s {
				continue
			}
			e.nonFinite++
			e.changed++
			continue
		case o != o || math.IsInf(o, 0):
			e.nonFinite++
			e.changed++
			continue
		}
		if o != s {
			e.changed++
		}
		d := math.Abs(o - s)
		e.maxAbs = math.Max(e.maxAbs, d)
		e.sumSqErr += d * d
		e.sumSqRef += s * s
	}
}

// ConvError is the error of a lossy conversion of one tensor.
type ConvError struct {
	// MaxAbs is the largest |converted - source| over the finite values
	// (+Inf when a finite value overflowed or a NaN/Inf was not kept).
	MaxAbs float64 `json:"max_abs_error"`
	// RelRMS is sqrt(sum (converted - source)^2 / sum source^2) over the
	// finite values (+Inf as MaxAbs).
	RelRMS float64 `json:"rel_rms_error"`
	// Changed counts the elements whose value changed; NonFinite those that
	// overflowed or lost a NaN/Inf.
	Changed   int64 `json:"changed"`
	NonFinite int64 `json:"non_finite"`
}

func (e *errAcc) result() ConvError {
	c := ConvError{MaxAbs: e.maxAbs, Changed: e.changed, NonFinite: e.nonFinite}
	switch {
	case e.sumSqRef > 0:
		c.RelRMS = math.Sqrt(e.sumSqErr / e.sumSqRef)
	case e.sumSqErr > 0:
		c.RelRMS = math.Inf(1)
	}
	if e.nonFinite > 0 {
		c.MaxAbs, c.RelRMS = math.Inf(1), math.Inf(1)
	}
	return c
}
