package convert

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"
)

// asyncWriter gathers writes into 1 MiB buffers and hands them to a
// goroutine that hashes them (SHA-256) and writes them to w, so that
// hashing and the write system calls run beside the conversion. At most
// asyncQueue+2 buffers exist at a time.
type asyncWriter struct {
	w    io.Writer
	h    hash.Hash
	cur  []byte
	ch   chan []byte
	free chan []byte
	done chan struct{}

	mu  sync.Mutex
	err error
}

const (
	asyncBuf   = 1 << 20
	asyncQueue = 4
)

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{w: w, h: sha256.New(), ch: make(chan []byte, asyncQueue), free: make(chan []byte, asyncQueue+2), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.ch {
		if a.failed() == nil {
			a.h.Write(b)
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		select {
		case a.free <- b[:0]:
		default:
		}
	}
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) buffer() []byte {
	select {
	case b := <-a.free:
		return b
	default:
		return make([]byte, 0, asyncBuf)
	}
}

// Write queues p; an error of an earlier write is returned.
func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if a.cur == nil {
			a.cur = a.buffer()
		}
		k := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur = a.cur[:len(a.cur)+k]
		p = p[k:]
		if len(a.cur) == cap(a.cur) {
			a.ch <- a.cur
			a.cur = nil
		}
	}
	return n, nil
}

// Close writes what is queued, stops the goroutine and returns the first
// write error. It must be called exactly once.
func (a *asyncWriter) Close() error {
	if len(a.cur) > 0 {
		a.ch <- a.cur
		a.cur = nil
	}
	close(a.ch)
	<-a.done
	return a.failed()
}

// Sum returns the SHA-256 of everything written; call it after Close.
func (a *asyncWriter) Sum() []byte { return a.h.Sum(nil) }
