package convert

import (
	"fmt"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// statsPipe accounts the values of the output tensors (statistics and
// conversion error) on a goroutine of its own, beside the reading,
// converting and writing. One goroutine takes the batches in the order
// they were produced and does to each exactly what produce would do
// inline, so the results are the same bits.
type statsPipe struct {
	jobs chan statsJob
	free chan []byte
	done chan struct{}
	err  error // the first error; read after close

	vals, ovals []float64
	f32         []float32
	closed      bool
}

// statsJob is a batch of whole units of one tensor to account: its source
// values (after any reorder) and, when the dtype changes, its output
// bytes, both copied into buffers of the pipe.
type statsJob struct {
	d        *outData
	raw, out []byte
	cnt      int // elements
}

// statsQueue bounds the batches waiting: at most statsQueue+2 of each
// buffer exist (raw and out, a batch each: 1 MiB at most).
const statsQueue = 4

func newStatsPipe() *statsPipe {
	p := &statsPipe{jobs: make(chan statsJob, statsQueue), free: make(chan []byte, 2*statsQueue+4), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *statsPipe) buffer(b []byte) []byte {
	var buf []byte
	select {
	case buf = <-p.free:
	default:
	}
	return append(buf[:0], b...)
}

func (p *statsPipe) recycle(b []byte) {
	if b == nil {
		return
	}
	select {
	case p.free <- b:
	default:
	}
}

// send queues the accounting of cnt elements of d: raw holds them in the
// source dtype, out (if d is lossy) in the output dtype. Both are copied.
func (p *statsPipe) send(d *outData, raw, out []byte, cnt int) {
	j := statsJob{d: d, raw: p.buffer(raw), cnt: cnt}
	if d.lossy {
		j.out = p.buffer(out)
	}
	p.jobs <- j
}

func (p *statsPipe) run() {
	defer close(p.done)
	for j := range p.jobs {
		if p.err == nil {
			p.err = p.account(j)
		}
		p.recycle(j.raw)
		p.recycle(j.out)
	}
}

// account is the accounting part of outData.produce.
func (p *statsPipe) account(j statsJob) error {
	d := j.d
	if !d.lossy && floatStats(d.o.Src.DType) {
		// No float64 values needed: straight to the float32 statistics.
		if err := accumulate(&d.st, d.o.Src.DType, j.raw, j.cnt, nil, &p.f32); err != nil {
			return fmt.Errorf("tensor %q: %w", d.o.Src.Name, err)
		}
		return nil
	}
	p.vals = grow(p.vals, j.cnt)
	if err := ckpt.DecodeFloat64(d.o.Src.DType, j.raw, p.vals); err != nil {
		return fmt.Errorf("tensor %q: %w", d.o.Src.Name, err)
	}
	if !d.lossy {
		return accumulate(&d.st, d.o.Src.DType, j.raw, j.cnt, p.vals, &p.f32)
	}
	p.ovals = grow(p.ovals, j.cnt)
	if err := ckpt.DecodeFloat64(d.o.DType, j.out, p.ovals); err != nil {
		return fmt.Errorf("tensor %q: %w", d.o.To, err)
	}
	d.er.add(p.vals, p.ovals)
	if err := accumulate(&d.st, d.o.DType, j.out, j.cnt, p.ovals, &p.f32); err != nil {
		return fmt.Errorf("tensor %q: %w", d.o.To, err)
	}
	return nil
}

// close waits for the queued batches to be accounted and returns the
// first error. It may be called more than once.
func (p *statsPipe) close() error {
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	<-p.done
	return p.err
}
