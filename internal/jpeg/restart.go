package jpeg

import "sync"

// restartSegments returns the start offsets of the restart intervals of an
// interleaved sequential scan holding the whole image, when it has enough
// of them to share among the cores and its RST markers are all in place
// (RST0, RST1, ... in turn); nil otherwise, and the scan is decoded in one
// pass, which reports any damage.
func (d *decoder) restartSegments(sc *scan) []int {
	if d.restart == 0 || d.workers() < 2 {
		return nil
	}
	total := d.mcusX * d.mcusY
	n := ceilDiv(total, d.restart)
	if n < 2*d.workers() {
		return nil
	}
	starts := make([]int, 0, n)
	starts = append(starts, sc.dataStart)
	data := d.data
	for p := sc.dataStart; p < len(data); {
		if data[p] != 0xFF {
			p++
			continue
		}
		q := p + 1
		for q < len(data) && data[q] == 0xFF {
			q++
		}
		if q >= len(data) {
			break
		}
		m := data[q]
		switch {
		case m == 0:
			p = q + 1
			continue
		case m >= mRST0 && m <= mRST7:
			if int(m-mRST0) != (len(starts)-1)&7 || len(starts) == n {
				return nil
			}
			starts = append(starts, q+1)
			p = q + 1
			continue
		}
		break // another marker ends the scan
	}
	if len(starts) != n {
		return nil
	}
	return starts
}

// decodeSegments decodes the restart intervals that start at starts, each
// with its own copy of the entropy decoder state, on all cores.
func (d *decoder) decodeSegments(sc *scan, starts []int) error {
	var (
		mu      sync.Mutex
		next    int
		firstAt = len(starts)
		first   error
		wg      sync.WaitGroup
	)
	for w := 0; w < d.workers(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dd := *d
			var br bitReader
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil && i > firstAt
				mu.Unlock()
				if i >= len(starts) || stop {
					return
				}
				if err := dd.decodeSegment(sc, &br, i, starts[i]); err != nil {
					mu.Lock()
					if i < firstAt {
						firstAt, first = i, err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	d.scans++
	return nil
}

func (d *decoder) decodeSegment(sc *scan, br *bitReader, i, start int) error {
	br.reset(d.data, start)
	d.resetEntropy(sc)
	var fn blockFn
	if d.arithmetic {
		fn = d.arithBlockFn(sc, br)
	} else {
		fn = func(c *component, si int, blk []int16) error {
			return d.huffSequential(br, sc, si, c, blk)
		}
	}
	total := d.mcusX * d.mcusY
	for m := i * d.restart; m < min(total, (i+1)*d.restart); m++ {
		my, mx := m/d.mcusX, m%d.mcusX
		for si, s := range sc.comps {
			c := s.c
			for v := 0; v < c.v; v++ {
				row := (my*c.v + v) * c.bw
				for h := 0; h < c.h; h++ {
					b := (row + mx*c.h + h) * 64
					if err := fn(c, si, c.coefs[b:b+64:b+64]); err != nil {
						return err
					}
				}
			}
		}
	}
	if br.overrun() {
		return d.errf(br.pos, "truncated or corrupt entropy-coded data (premature end of data segment)")
	}
	return nil
}
