package swin

import (
	"encoding/binary"
	"math"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestExpSameBitsAcrossArchitectures checks that the NEON softmax
// exponentials (exp_arm64.s) give the bits of the AVX2 ones: with
// GLIPCTL_EXP_BITS=FILE set, on amd64 (AVX2+FMA) it writes the results of
// expSubSum and scaleBiasMax on rows of exact inputs to FILE; on arm64 it
// computes them with NEON and compares them bit for bit with FILE.
// scripts/ci/arm64_emulated.sh runs both (arm64 under qemu-user).
func TestExpSameBitsAcrossArchitectures(t *testing.T) {
	path := os.Getenv("GLIPCTL_EXP_BITS")
	if path == "" {
		t.Skip("GLIPCTL_EXP_BITS is not set (scripts/ci/arm64_emulated.sh sets it)")
	}
	var write bool
	switch runtime.GOARCH {
	case "amd64":
		if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA) {
			t.Fatal("writing the reference needs AVX2+FMA")
		}
		write = true
	case "arm64":
	default:
		t.Skipf("no assembly exponentials on %s", runtime.GOARCH)
	}
	// Rows of every length 1..50 (tails of len%8 included), values k/64
	// from -100 to +10 in turn, shifted by the row's maximum as the
	// softmax does; then the scale-bias-mask pass on the same rows.
	var got []float32
	k := 0
	for n := 1; n <= 50; n++ {
		row, bias, mask := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range row {
			row[i] = float32(k%7040-6400) / 64
			bias[i] = float32(k%37-18) / 16
			if k%5 == 0 {
				mask[i] = maskValue
			}
			k += 13
		}
		sb := append([]float32(nil), row...)
		mx := scaleBiasMax(sb, 0.125, bias, mask)
		got = append(got, sb...)
		got = append(got, mx)
		sum := expSubSum(sb, mx)
		got = append(got, sb...)
		got = append(got, sum)
		e := append([]float32(nil), row...)
		got = append(got, expSubSum(e, 2.5))
		got = append(got, e...)
	}
	if write {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := binary.Write(f, binary.LittleEndian, got); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d values written to %s", len(got), path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*len(got) {
		t.Fatalf("reference has %d bytes, want %d", len(b), 4*len(got))
	}
	for i, g := range got {
		w := binary.LittleEndian.Uint32(b[4*i:])
		if math.Float32bits(g) != w {
			t.Fatalf("value %d: %g (%#08x), avx2 %g (%#08x)", i, g, math.Float32bits(g), math.Float32frombits(w), w)
		}
	}
	t.Logf("%d values bit for bit the same as the reference", len(got))
}
