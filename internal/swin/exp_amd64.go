//go:build amd64 && !purego

package swin

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// expSubSumAVX2 sets x[i] = e^(x[i]-mx) for i < n (a multiple of 8) and
// returns their sum (exp_amd64.s).
//
//go:noescape
func expSubSumAVX2(x *float32, n int, mx float32) float32

// expSubSum sets row[i] = e^(row[i]-mx) and returns their sum: 8 values at
// a time in AVX2 assembly, the last len%8 through the same code in a
// padded buffer (so a value does not depend on its position), or expf
// without AVX2.
func expSubSum(row []float32, mx float32) float32 {
	if !haveAVX2 {
		return expSubSumGo(row, mx)
	}
	n8 := len(row) &^ 7
	var sum float32
	if n8 > 0 {
		sum = expSubSumAVX2(&row[0], n8, mx)
	}
	if n8 < len(row) {
		var buf [8]float32
		tail := row[n8:]
		copy(buf[:], tail)
		expSubSumAVX2(&buf[0], 8, mx)
		for i := range tail {
			tail[i] = buf[i]
			sum += buf[i]
		}
	}
	return sum
}
