// Package stats computes the summary statistics glipctl reports for tensors
// (inspect --stats, the conversion reports, forward's per-stage summaries)
// and fixes how a number is written in JSON.
//
// # Statistics
//
// An Accumulator takes values run by run and gives a Stats: element count,
// finite count, min, max, mean, unbiased standard deviation (as
// torch.Tensor.std()), absolute maximum, and the counts of zeros, NaN and
// ±Inf. Min, max, mean, std and abs-max are taken over the finite values
// only; they are NaN when there is none (std also when there is one).
// Values are accumulated in float64: a two-pass mean and squared deviation
// per run, runs merged in order as Chan et al.; float32 runs go through an
// AVX2 pass on amd64 that gives the same bits as the Go code (a run holding
// a zero, NaN or Inf takes the Go code). The same values fed in the same
// runs and order give the same bits on every machine.
//
// TensorStats reduces whole tensors in chunks of ChunkBytes on all cores,
// with memory flat in the tensors' sizes.
//
// # Numbers in JSON
//
// JSON has no NaN or infinity. Every JSON output of glipctl writes a
// non-finite number as null (type Number), and wherever a value can be
// non-finite a count beside it says how many elements were NaN or infinite
// (Stats' nan and inf, a comparison's out_of_tolerance, a conversion's
// non_finite), so a reader can tell "undefined" from "no data".
package stats
