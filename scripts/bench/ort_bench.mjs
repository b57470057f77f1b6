// The ONNX Runtime side of scripts/bench/bench_ort.sh: times an ONNX graph's
// forward pass in onnxruntime-node (CPU, all graph optimisations).
//
//   node scripts/bench/ort_bench.mjs --model M.onnx --input x.npy [--threads T]
//        [--repeat K] [--chunk B] [--out feats.safetensors]
//
// x.npy is a float32 (N, 3, H, W) array (little-endian, C order). The
// graph takes B images at a time (--chunk, default N; N must be a
// multiple of it), so one pass is N/B runs. After a warm-up pass, K passes
// are timed; prints "best_ms median_ms". --out writes the graph's outputs
// of the first pass (one chunk) to a safetensors file under their names,
// for `glipctl diff`.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import ort from "onnxruntime-node";

const { values: a } = parseArgs({
  options: {
    model: { type: "string" },
    input: { type: "string" },
    threads: { type: "string", default: "1" },
    repeat: { type: "string", default: "10" },
    chunk: { type: "string", default: "0" },
    out: { type: "string" },
  },
});
if (!a.model || !a.input) {
  console.error("usage: ort_bench.mjs --model M.onnx --input x.npy [--threads T] [--repeat K] [--chunk B] [--out F]");
  process.exit(2);
}

// readNpy returns the shape and the float32 values of a version 1-3 .npy
// file holding little-endian float32 in C order.
function readNpy(path) {
  const buf = readFileSync(path);
  if (buf.length < 10 || buf.toString("latin1", 0, 6) !== "\x93NUMPY") {
    throw new Error(`${path}: not a .npy file`);
  }
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = buf.toString("latin1", major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header)) {
    throw new Error(`${path}: want little-endian float32 in C order, header ${header.trim()}`);
  }
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(",").filter((s) => s.trim() !== "").map(Number);
  const n = shape.reduce((p, v) => p * v, 1);
  if (buf.length - start < 4 * n) {
    throw new Error(`${path}: truncated`);
  }
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + 4 * n));
  return { shape, data };
}

// writeSafetensors writes float32 tensors {name: ort.Tensor} in name order.
function writeSafetensors(path, tensors) {
  const names = Object.keys(tensors).sort();
  const meta = {};
  let off = 0;
  for (const k of names) {
    const n = tensors[k].data.length * 4;
    meta[k] = { dtype: "F32", shape: tensors[k].dims, data_offsets: [off, off + n] };
    off += n;
  }
  let h = JSON.stringify(meta);
  h += " ".repeat((8 - (h.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(h.length));
  const parts = [head, Buffer.from(h, "latin1")];
  for (const k of names) {
    const d = tensors[k].data;
    parts.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
  writeFileSync(path, Buffer.concat(parts));
}

const x = readNpy(a.input);
const [n, ...img] = x.shape;
const chunk = Number(a.chunk) || n;
if (n % chunk !== 0) {
  throw new Error(`batch ${n} is not a multiple of --chunk ${chunk}`);
}
const per = img.reduce((p, v) => p * v, 1);
const session = await ort.InferenceSession.create(a.model, {
  intraOpNumThreads: Number(a.threads),
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
});
const feeds = [];
for (let i = 0; i < n; i += chunk) {
  const data = x.data.subarray(i * per, (i + chunk) * per);
  feeds.push({ [session.inputNames[0]]: new ort.Tensor("float32", data, [chunk, ...img]) });
}
async function pass() {
  let first;
  for (const f of feeds) {
    const r = await session.run(f);
    first ??= r;
  }
  return first;
}
const first = await pass(); // warm-up
if (a.out) {
  writeSafetensors(a.out, first);
}
const times = [];
for (let i = 0; i < Number(a.repeat); i++) {
  const t0 = process.hrtime.bigint();
  await pass();
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
times.sort((p, q) => p - q);
if (times.length > 0) {
  console.log(`${times[0].toFixed(1)} ${times[Math.floor(times.length / 2)].toFixed(1)}`);
}
