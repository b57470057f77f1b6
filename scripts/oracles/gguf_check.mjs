#!/usr/bin/env node
// gguf_check.mjs reads a GGUF file with npm's @huggingface/gguf, a reader
// nobody in this project wrote, and prints what it found as JSON:
//
//   {
//     "version": 3,
//     "tensor_count": "2", "kv_count": "5",
//     "tensor_data_offset": "544",
//     "metadata": {"key": {"type": 8, "sub_type": 4, "value": ...}, ...},
//     "tensor_infos": [{"name": "...", "shape": ["64", "3"], "dtype": 0, "dtype_name": "F32", "offset": "0"}, ...]
//   }
//
// The metadata leaves out the library's own version/tensor_count/kv_count
// entries; "sub_type" is the element type of an array. Integers the library
// returns as BigInt (uint64, int64, counts, shapes, offsets) are printed as
// decimal strings; NaN and infinities as the strings "NaN", "Infinity",
// "-Infinity". Shapes are as the file stores them (innermost first).
//
// Usage: node scripts/oracles/gguf_check.mjs FILE.gguf
// Setup: npm ci --prefix scripts

import { gguf, GGMLQuantizationType } from "@huggingface/gguf";
import path from "node:path";

const file = process.argv[2];
if (!file || process.argv.length > 3) {
	console.error("usage: node gguf_check.mjs FILE.gguf");
	process.exit(2);
}

function plain(v) {
	if (typeof v === "bigint") return v.toString();
	if (typeof v === "number" && !Number.isFinite(v)) return String(v);
	if (Array.isArray(v)) return v.map(plain);
	return v;
}

try {
	const { typedMetadata, tensorInfos, tensorDataOffset } = await gguf(path.resolve(file), {
		allowLocalFile: true,
		typedMetadata: true,
	});
	const metadata = {};
	for (const [key, entry] of Object.entries(typedMetadata)) {
		if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
		const out = { type: entry.type, value: plain(entry.value) };
		if (entry.subType !== undefined) out.sub_type = entry.subType;
		metadata[key] = out;
	}
	const result = {
		version: typedMetadata.version.value,
		tensor_count: plain(typedMetadata.tensor_count.value),
		kv_count: plain(typedMetadata.kv_count.value),
		tensor_data_offset: plain(tensorDataOffset),
		metadata,
		tensor_infos: tensorInfos.map((t) => ({
			name: t.name,
			shape: t.shape.map(plain),
			dtype: t.dtype,
			dtype_name: GGMLQuantizationType[t.dtype] ?? null,
			offset: plain(t.offset),
		})),
	};
	process.stdout.write(JSON.stringify(result, null, 1) + "\n");
} catch (err) {
	console.error(`${file}: ${err.message}`);
	process.exit(1);
}
