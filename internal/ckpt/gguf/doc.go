// Package gguf reads and writes GGUF files (version 3; version 2, which
// differs only in allowing no big-endian files, is read too).
//
// # Format
//
// A file is "GGUF", a uint32 version, a uint64 tensor count, a uint64
// metadata pair count, the metadata pairs (a string key, a uint32 value
// type, the value), the tensor infos (a string name, a uint32 n_dims, n_dims
// uint64 dimensions innermost first, a uint32 ggml type, a uint64 offset
// into the data section), zero padding to general.alignment (default 32),
// and the data section. Strings are a uint64 length and that many bytes;
// arrays are a uint32 element type, a uint64 count and the elements, which
// may be arrays themselves. Everything is little-endian.
//
// # Reading
//
// ReadFile returns the typed metadata (KV, Value) in file order, the tensor
// infos as stored, and a ckpt.Checkpoint whose tensors have PyTorch shapes
// (the dimensions reversed), whose Data are sections of the file (nothing
// is read until asked), and whose Metadata holds each value rendered by
// Value.String (long arrays shortened). Every count and length is checked
// against what the rest of the file can hold and against fixed limits
// before anything is allocated for it; n_dims is at most 4 and a tensor
// name at most 63 bytes (ggml's limits); general.alignment must be a
// uint32 power of two; each tensor must have a supported type (F32, F16,
// Q8_0, I8, I16, I32, I64, F64, BF16), a shape whose byte size does not
// overflow, Q8_0 rows (the innermost dimension) of whole 32-element blocks,
// an offset that is a multiple of the alignment, and bytes that lie within
// the file and overlap no other tensor's. Gaps between tensors are allowed.
//
// # Writing
//
// Write writes version 3 deterministically: the pairs and tensors in the
// order given, each tensor at a multiple of the alignment and padded with
// zeros up to the next (the last one too, as ggml does). The layout
// follows from the shapes, so tensors stream in chunks of ChunkBytes. A
// tensor is stored in its own dtype, or, when WriteOptions.Quantize picks
// it, converted to Q8_0 by Quantize exactly as ggml's reference quantizer
// does; a Q8_0 source tensor is copied as is. U8 and BOOL tensors have no
// ggml type and are refused. When any tensor is stored as Q8_0 and the
// pairs lack it, general.quantization_version = QuantizationVersion (a
// uint32) follows them, as the specification requires of a quantized file
// (ggml's docs/gguf.md, "Standardized key-value pairs").
//
// # Short names (glipctl.naming = "short-v1")
//
// ggml limits tensor names to 63 bytes, and mmpretrain's Swin names are
// longer: backbone.stages.2.blocks.17.attn.w_msa.relative_position_bias_table
// is 67 bytes, and even Swin-T's
// backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias_table is 66.
// With WriteOptions.ShortNames, Write stores ShortName(name) for every
// tensor and records glipctl.naming = "short-v1"; a reader of such a file
// gets the long names back (Tensor.Name) with the stored ones in
// Tensor.Stored. The scheme rewrites whole names that match one of these
// patterns, where # is a run of digits and * a non-empty final part without
// a dot, both kept as they are:
//
//	backbone.patch_embed.projection.*                                     pe.proj.*
//	backbone.patch_embed.norm.*                                           pe.norm.*
//	backbone.stages.#.blocks.#.norm1.*                                    s#.b#.norm1.*
//	backbone.stages.#.blocks.#.norm2.*                                    s#.b#.norm2.*
//	backbone.stages.#.blocks.#.attn.w_msa.qkv.*                           s#.b#.attn.qkv.*
//	backbone.stages.#.blocks.#.attn.w_msa.proj.*                          s#.b#.attn.proj.*
//	backbone.stages.#.blocks.#.attn.w_msa.relative_position_bias_table    s#.b#.attn.rpb_table
//	backbone.stages.#.blocks.#.attn.w_msa.relative_position_index         s#.b#.attn.rp_index
//	backbone.stages.#.blocks.#.ffn.layers.0.0.*                           s#.b#.ffn.fc1.*
//	backbone.stages.#.blocks.#.ffn.layers.1.*                             s#.b#.ffn.fc2.*
//	backbone.stages.#.downsample.reduction.*                              s#.down.reduction.*
//	backbone.stages.#.downsample.norm.*                                   s#.down.norm.*
//	backbone.norm#.*                                                      norm#.*
//
// so backbone.stages.2.blocks.17.attn.w_msa.relative_position_bias_table is
// stored as s2.b17.attn.rpb_table. Any other name is stored unchanged,
// except that a name which already looks like a short name (matches a
// right-hand pattern) or starts with "~" is stored with a "~" in front, so
// that it cannot be mistaken for a shortened one. ShortName is therefore
// one-to-one on all strings and LongName is its exact inverse; LongName
// reports false for a name ShortName never produces (a left-hand name, or
// a "~" that escapes nothing), and Read refuses such a name in a short-v1
// file.
package gguf
