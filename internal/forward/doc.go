// Package forward is glipctl's feature-extraction pipeline: it loads the
// inputs (images decoded, resized and normalised; or float32 .npy tensors
// taken as they are), runs the Swin backbone on them, and hands back, in
// input order, each input's features with their per-stage statistics and,
// when asked, their comparison with a reference file.
//
// # Inputs
//
// Inputs are image files, then .npy files, each in the order given
// (Inputs). An input's Label is its base name, with "#N" (its position among
// the inputs, from 1) appended when two inputs share a base name; feature
// tensors are named "stage{K}" with one input and "{label}/stage{K}" with
// several (TensorName).
//
// # Scheduling
//
// One input runs its pass on every core. Several inputs run in parallel,
// each pass on one goroutine (cheaper than one pass at a time on every
// core): min(GOMAXPROCS, inputs) workers each take up to Stack consecutive
// inputs at a time, and consecutive single images of one size run as one
// batch. Results are delivered in input order whatever the schedule, and
// the features do not depend on it: the same inputs give the same bits for
// any GOMAXPROCS and any batching (the backbone guarantees it per image).
//
// # Summaries
//
// Each stage's statistics are those of package stats (finite values only,
// NaN and Inf counted), so a feature map holding NaN still gives a summary
// with counts, and null in JSON where a statistic is undefined.
package forward
