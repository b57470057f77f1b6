package convert

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/x448/float16"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
)

// DTypeMode is the --dtype choice: what the float tensors of the output
// become.
type DTypeMode string

// The dtype modes.
const (
	// Keep leaves every tensor's dtype as in the source.
	Keep DTypeMode = "keep"
	// ToF32, ToF16 and ToBF16 convert every float tensor; integer and bool
	// tensors (the relative_position_index buffers) keep their type.
	ToF32  DTypeMode = "f32"
	ToF16  DTypeMode = "f16"
	ToBF16 DTypeMode = "bf16"
	// ToQ8_0 (GGUF only) quantises the 2-D weights whose inner dimension is
	// a multiple of 32 to Q8_0; the other float tensors (norms, biases,
	// bias tables, the patch-embedding conv) become f32.
	ToQ8_0 DTypeMode = "q8_0"
)

// DTypeModes lists the modes in the order help texts show them.
var DTypeModes = []DTypeMode{Keep, ToF32, ToF16, ToBF16, ToQ8_0}

// ParseDTypeMode parses a --dtype value (case-insensitive; "float16",
// "half", "bfloat16", "float32", "q8" are accepted too).
func ParseDTypeMode(s string) (DTypeMode, error) {
	switch strings.ToLower(s) {
	case "keep", "":
		return Keep, nil
	case "f32", "float32", "float":
		return ToF32, nil
	case "f16", "float16", "half":
		return ToF16, nil
	case "bf16", "bfloat16":
		return ToBF16, nil
	case "q8_0", "q8":
		return ToQ8_0, nil
	}
	return "", &OptionError{Option: "dtype", Err: fmt.Errorf("unknown dtype %q (want keep, f32, f16, bf16 or q8_0)", s)}
}

// q8Eligible reports whether a tensor is quantised under ToQ8_0: a float
// 2-D weight whose rows are whole Q8_0 blocks.
func q8Eligible(name string, dt ckpt.DType, shape []int64) bool {
	return dt.IsFloat() && len(shape) == 2 && strings.HasSuffix(name, ".weight") &&
		shape[1] > 0 && shape[1]%ckpt.Q8Block == 0
}

// outputDType is the dtype a tensor named name (of dtype dt and shape)
// gets under mode.
func outputDType(mode DTypeMode, name string, dt ckpt.DType, shape []int64) ckpt.DType {
	if !dt.IsFloat() || dt == ckpt.Q8_0 {
		return dt
	}
	switch mode {
	case ToF32:
		return ckpt.F32
	case ToF16:
		return ckpt.F16
	case ToBF16:
		return ckpt.BF16
	case ToQ8_0:
		if q8Eligible(name, dt, shape) {
			return ckpt.Q8_0
		}
		return ckpt.F32
	}
	return dt
}

// F16Bits rounds f to half precision as torch's Tensor.half() does
// (c10::Half: round to nearest, ties to even; overflow to ±Inf; a NaN
// becomes the quiet NaN 0x7e00 with f's sign).
func F16Bits(f float32) uint16 {
	if f != f {
		return uint16(math.Float32bits(f)>>16)&0x8000 | 0x7e00
	}
	return float16.Fromfloat32(f).Bits()
}

// BF16Bits rounds f to bfloat16 as torch's Tensor.bfloat16() does
// (c10::BFloat16 round_to_nearest_even). A NaN stays a NaN: its sign and
// top payload bits are kept and it is made quiet (torch gives 0x7fc0 on
// its scalar path and 0xffff on its AVX2 path; both are NaN too).
func BF16Bits(f float32) uint16 {
	if f != f {
		return uint16(math.Float32bits(f)>>16) | 0x0040
	}
	u := math.Float32bits(f)
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// encode writes vals (decoded source values) into dst as dtype dt. vals
// come from a float tensor; for integer output types the caller passes the
// raw bytes through instead.
func encode(dt ckpt.DType, vals []float64, dst []byte) error {
	le := binary.LittleEndian
	switch dt {
	case ckpt.F64:
		for i, v := range vals {
			le.PutUint64(dst[8*i:], math.Float64bits(v))
		}
	case ckpt.F32:
		for i, v := range vals {
			le.PutUint32(dst[4*i:], math.Float32bits(float32(v)))
		}
	case ckpt.F16:
		// torch converts a double to half through float (c10::Half(float)).
		for i, v := range vals {
			le.PutUint16(dst[2*i:], F16Bits(float32(v)))
		}
	case ckpt.BF16:
		for i, v := range vals {
			le.PutUint16(dst[2*i:], BF16Bits(float32(v)))
		}
	case ckpt.Q8_0:
		// gguf.Quantize is ggml's reference quantiser (float32 input).
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		if _, err := gguf.Quantize(dst[:0], f); err != nil {
			return err
		}
	default:
		return fmt.Errorf("cannot convert to %s", dt)
	}
	return nil
}
