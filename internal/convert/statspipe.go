package convert

// statsPipe accounts the values of the output tensors (statistics and
// conversion error) on a goroutine of its own, beside the reading,
// converting and writing. One goroutine takes the batches in the order
// they were produced and does to each exactly what produce would do
// inline (outData.account), so the results are the same bits.
type statsPipe struct {
	jobs chan statsJob
	free chan []byte
	done chan struct{}
	err  error // the first error; read after close

	bufs   accountBufs
	closed bool
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
			p.err = j.d.account(j.raw, j.out, j.cnt, &p.bufs)
		}
		p.recycle(j.raw)
		p.recycle(j.out)
	}
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
