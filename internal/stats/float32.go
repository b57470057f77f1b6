package stats

import (
	"math"
)

// subBlock is the number of float32 values reduced at a time: two passes
// over 256 KiB stay in a core's L2 cache.
const subBlock = 1 << 16

// AddFloat32 accumulates float32 values: per sub-block, one pass for the
// extremes, counts and sum, a second for the squared deviations, each with
// four independent float64 accumulators.
func (a *Accumulator) AddFloat32(v []float32) {
	for len(v) > 0 {
		n := min(len(v), subBlock)
		a.Merge(blockF32(v[:n]))
		v = v[n:]
	}
}

// blockF32 reduces one sub-block: with the assembly passes where this CPU
// has them and the block holds no zero, NaN or Inf (the same sums in the
// same order, so the same bits), else with blockF32Go.
func blockF32(v []float32) Accumulator {
	if haveStatsAsm {
		if b, ok := blockF32Asm(v); ok {
			return b
		}
	}
	return blockF32Go(v)
}

// blockF32Asm is blockF32Go for blocks without zeros, NaN or Inf, with the
// groups of 4 values in assembly (statsPass1, statsPass2: the 4 float64
// sums are the 4 lanes of a vector, added in the same order) and the tail
// in Go. ok is false, and nothing computed, when the block holds a zero,
// NaN or Inf.
func blockF32Asm(v []float32) (b Accumulator, ok bool) {
	n4 := len(v) &^ 3
	var p1 pass1
	p1.mn = [8]float32{float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1)),
		float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1))}
	p1.mx = [8]float32{float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)),
		float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))}
	if n4 > 0 {
		statsPass1(&v[0], n4, &p1)
		for _, f := range p1.flags {
			if f != 0 {
				return b, false
			}
		}
	}
	for _, x := range v[n4:] {
		if u := math.Float32bits(x); u&0x7f800000 == 0x7f800000 || u&0x7fffffff == 0 {
			return b, false
		}
	}
	b = NewAccumulator()
	b.total = int64(len(v))
	s := p1.s
	mn, mx := p1.mn[0], p1.mx[0]
	for i := 1; i < 8; i++ {
		mn, mx = min(mn, p1.mn[i]), max(mx, p1.mx[i])
	}
	for _, x := range v[n4:] {
		b.one(x, &s[0], &mn, &mx)
	}
	b.n = b.total
	if b.n == 0 {
		return b, true
	}
	sum := (s[0] + s[1]) + (s[2] + s[3])
	b.mean = sum / float64(b.n)
	b.min, b.max = float64(mn), float64(mx)
	b.absmax = math.Max(math.Abs(b.min), math.Abs(b.max))
	var p2 pass2
	if n4 > 0 {
		statsPass2(&v[0], n4, b.mean, &p2)
	}
	m, c := p2.m, p2.c
	for _, x := range v[n4:] {
		d := float64(x) - b.mean
		m[0] += d * d
		c[0] += d
	}
	m2 := (m[0] + m[1]) + (m[2] + m[3])
	comp := (c[0] + c[1]) + (c[2] + c[3])
	b.m2 = m2 - comp*comp/float64(b.n)
	return b, true
}

// pass1 is what statsPass1 adds to: per lane k, the float64 sum of the
// values at 4i+k, and the float32 minimum and maximum of the values at
// 8i+k; flags is non-zero in a lane that saw a zero, NaN or Inf.
type pass1 struct {
	s      [4]float64
	mn, mx [8]float32
	flags  [8]uint32
}

// pass2 is what statsPass2 adds to: per lane k, over the values x at 4i+k,
// the sums of (x-mean)² and of x-mean.
type pass2 struct {
	m, c [4]float64
}

// blockF32Go is blockF32 in Go.
func blockF32Go(v []float32) Accumulator {
	b := NewAccumulator()
	b.total = int64(len(v))
	var s [4]float64
	mn, mx := float32(math.Inf(1)), float32(math.Inf(-1))
	special := false
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x0, x1, x2, x3 := v[i], v[i+1], v[i+2], v[i+3]
		u0, u1, u2, u3 := math.Float32bits(x0), math.Float32bits(x1), math.Float32bits(x2), math.Float32bits(x3)
		// Any exponent all ones (NaN, Inf) or any zero: take the slow path.
		if (u0&0x7f800000 == 0x7f800000) || (u1&0x7f800000 == 0x7f800000) || (u2&0x7f800000 == 0x7f800000) || (u3&0x7f800000 == 0x7f800000) ||
			u0&0x7fffffff == 0 || u1&0x7fffffff == 0 || u2&0x7fffffff == 0 || u3&0x7fffffff == 0 {
			for _, x := range v[i : i+4] {
				if b.one(x, &s[0], &mn, &mx) {
					special = true
				}
			}
			continue
		}
		s[0] += float64(x0)
		s[1] += float64(x1)
		s[2] += float64(x2)
		s[3] += float64(x3)
		// Plain comparisons: the builtin min/max also order NaN and
		// signed zeros, which cannot occur here and cost a long chain.
		if x0 < mn {
			mn = x0
		}
		if x1 < mn {
			mn = x1
		}
		if x2 < mn {
			mn = x2
		}
		if x3 < mn {
			mn = x3
		}
		if x0 > mx {
			mx = x0
		}
		if x1 > mx {
			mx = x1
		}
		if x2 > mx {
			mx = x2
		}
		if x3 > mx {
			mx = x3
		}
	}
	for _, x := range v[i:] {
		if b.one(x, &s[0], &mn, &mx) {
			special = true
		}
	}
	b.n = b.total - b.nan - b.inf
	if b.n == 0 {
		return b
	}
	sum := (s[0] + s[1]) + (s[2] + s[3])
	b.mean = sum / float64(b.n)
	b.min, b.max = float64(mn), float64(mx)
	b.absmax = math.Max(math.Abs(b.min), math.Abs(b.max))
	var m, c [4]float64
	mean := b.mean
	i = 0
	if !special {
		for ; i+4 <= len(v); i += 4 {
			d0, d1, d2, d3 := float64(v[i])-mean, float64(v[i+1])-mean, float64(v[i+2])-mean, float64(v[i+3])-mean
			m[0] += d0 * d0
			m[1] += d1 * d1
			m[2] += d2 * d2
			m[3] += d3 * d3
			c[0] += d0
			c[1] += d1
			c[2] += d2
			c[3] += d3
		}
	}
	for _, x := range v[i:] {
		if u := math.Float32bits(x); u&0x7f800000 == 0x7f800000 {
			continue
		}
		d := float64(x) - mean
		m[0] += d * d
		c[0] += d
	}
	m2 := (m[0] + m[1]) + (m[2] + m[3])
	comp := (c[0] + c[1]) + (c[2] + c[3])
	b.m2 = m2 - comp*comp/float64(b.n)
	return b
}

// one accumulates a single value on the slow path and reports whether it
// was NaN or Inf.
func (b *Accumulator) one(x float32, sum *float64, mn, mx *float32) bool {
	u := math.Float32bits(x)
	if u&0x7f800000 == 0x7f800000 {
		if u&0x7fffff != 0 {
			b.nan++
		} else {
			b.inf++
		}
		return true
	}
	if u&0x7fffffff == 0 {
		b.zeros++
	}
	*sum += float64(x)
	*mn = min(*mn, x)
	*mx = max(*mx, x)
	return false
}
