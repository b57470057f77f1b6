package gemm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// TestSameBitsAcrossArchitectures checks the promise of the package doc
// that the NEON kernel gives the AVX2 kernel's bits: with
// GLIPCTL_GEMM_BITS=FILE set, on amd64 it writes the avx2 kernel's
// results on every test shape and epilogue, MatMul and GELU to FILE; on
// arm64 it computes the same with the neon kernel and compares them bit
// for bit with FILE. scripts/ci/arm64_emulated.sh runs both (arm64 under
// qemu-user). Inputs are multiples of 2⁻²² made from integers, so that they
// are the same on every architecture.
func TestSameBitsAcrossArchitectures(t *testing.T) {
	path := os.Getenv("GLIPCTL_GEMM_BITS")
	if path == "" {
		t.Skip("GLIPCTL_GEMM_BITS is not set (scripts/ci/arm64_emulated.sh sets it)")
	}
	im, write := bitsImpl(t)
	var buf bytes.Buffer
	cases := 0
	bitsCases(im, func(name string, v []float32) {
		cases++
		binary.Write(&buf, binary.LittleEndian, uint32(len(name)))
		buf.WriteString(name)
		binary.Write(&buf, binary.LittleEndian, uint32(len(v)))
		binary.Write(&buf, binary.LittleEndian, v)
	})
	if write {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d cases, %d bytes written to %s", im.name, cases, buf.Len(), path)
		return
	}
	ref, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, want := bytes.NewReader(buf.Bytes()), bytes.NewReader(ref)
	for c := 0; c < cases; c++ {
		gname, gv := readBitsCase(t, got)
		wname, wv := readBitsCase(t, want)
		if gname != wname || len(gv) != len(wv) {
			t.Fatalf("case %d: %s (%d values), reference file has %s (%d values)", c, gname, len(gv), wname, len(wv))
		}
		for i := range gv {
			g, w := gv[i], wv[i]
			if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
				t.Fatalf("%s: %s value %d: %g (%#08x), avx2 %g (%#08x)", gname, im.name, i, g, math.Float32bits(g), w, math.Float32bits(w))
			}
		}
	}
	if want.Len() != 0 {
		t.Fatalf("reference file has %d bytes more than %d cases", want.Len(), cases)
	}
	t.Logf("%s: %d cases bit for bit the same as the reference file", im.name, cases)
}

func readBitsCase(t *testing.T, r *bytes.Reader) (string, []float32) {
	t.Helper()
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		t.Fatalf("reference: %v", err)
	}
	name := make([]byte, n)
	if _, err := io.ReadFull(r, name); err != nil {
		t.Fatalf("reference: %v", err)
	}
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || int(n) > r.Len()/4 {
		t.Fatalf("reference: %s: bad length (%v)", name, err)
	}
	v := make([]float32, n)
	if err := binary.Read(r, binary.LittleEndian, v); err != nil {
		t.Fatalf("reference: %v", err)
	}
	return string(name), v
}

// exactSlice returns n values k·2⁻²², |k| < 2²², from r's integers.
func exactSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(int32(r.Uint32()>>9)-1<<22) * (1.0 / (1 << 22))
	}
	return s
}

// bitsCases calls emit with the results of im on every shape (MatMulT
// with four epilogues, MatMul; with -short all but the largest, a minute
// and a half under qemu-user) and GELU on a sweep of float32 values.
func bitsCases(im *impl, emit func(name string, v []float32)) {
	kr := Kernel{impl: im}
	for _, s := range shapes {
		if testing.Short() && s.m*s.n*s.k > 1<<26 {
			continue
		}
		r := rand.New(rand.NewPCG(uint64(s.m), uint64(s.n*s.k+s.pad)))
		lda, ldb, ldc := s.k+s.pad, s.k+s.pad, s.n+s.pad
		a, b := exactSlice(r, s.m*lda), exactSlice(r, s.n*ldb)
		bias, res := exactSlice(r, s.n), exactSlice(r, s.m*s.n)
		for e, ep := range []Epilogue{{}, {Bias: bias}, {Bias: bias, Residual: res, LdResidual: s.n}, {Bias: bias, GELU: true, Residual: res, LdResidual: s.n}} {
			c := make([]float32, s.m*ldc)
			kr.MatMulTEpilogue(s.m, s.n, s.k, a, lda, b, ldb, c, ldc, ep)
			emit(fmt.Sprintf("MatMulT/%dx%dx%d+%d/epilogue%d", s.m, s.n, s.k, s.pad, e), c)
		}
		bn := exactSlice(r, s.k*(s.n+s.pad))
		c := make([]float32, s.m*ldc)
		kr.MatMul(s.m, s.n, s.k, a, lda, bn, s.n+s.pad, bias, c, ldc)
		emit(fmt.Sprintf("MatMul/%dx%dx%d+%d", s.m, s.n, s.k, s.pad), c)
	}
	var xs []float32
	for bits := math.Float32bits(1e-20); bits <= math.Float32bits(14); bits += 997 {
		x := math.Float32frombits(bits)
		xs = append(xs, x, -x)
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 20, 1e30, -13.5, -20, -1e30, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()))
	kr.GELU(xs)
	emit("GELU", xs)
}
