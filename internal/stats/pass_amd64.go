//go:build amd64 && !purego

package stats

import "golang.org/x/sys/cpu"

// haveStatsAsm: statsPass1 and statsPass2 are AVX2 code.
var haveStatsAsm = cpu.X86.HasAVX2

// statsPass1 adds the n values at p (n a multiple of 4) to out; see pass1.
//
//go:noescape
func statsPass1(p *float32, n int, out *pass1)

// statsPass2 adds the n values at p (n a multiple of 4) to out; see pass2.
//
//go:noescape
func statsPass2(p *float32, n int, mean float64, out *pass2)
