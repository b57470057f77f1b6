package ckpt

import "math"

// MulSize returns a*b for sizes read from a file (element counts, block and
// element sizes, strides, offsets), and false when either is negative or
// the product does not fit in int64. Every size a reader computes from
// header fields goes through MulSize and AddSize, so that no overflow can
// turn a huge size into a small or negative one that passes a bounds check.
func MulSize(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	return a * b, true
}

// AddSize returns a+b for sizes read from a file, and false when either is
// negative or the sum does not fit in int64.
func AddSize(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || b > math.MaxInt64-a {
		return 0, false
	}
	return a + b, true
}

// SizeU64 converts a size stored as an unsigned field, and false when it
// does not fit in int64.
func SizeU64(v uint64) (int64, bool) {
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// Within reports whether the n bytes at off lie inside a region of size
// bytes (all three non-negative, without overflow).
func Within(off, n, size int64) bool {
	end, ok := AddSize(off, n)
	return ok && size >= 0 && end <= size
}
