//go:build !unix

package preprocess

import "time"

// processCPU is unknown here: the benchmarks report no cpu-ms/op.
func processCPU() (time.Duration, bool) { return 0, false }
