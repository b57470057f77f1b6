// Runs ONNX models with ONNX Runtime (npm onnxruntime-node, CPU), for the
// tests of glipctl's ONNX export and for scripts/bench/bench_onnx.sh.
//
//   node scripts/oracles/onnx_run.mjs JOBS.json
//
// JOBS.json is {"jobs": [{"model": PATH, "threads": 1, "runs": [{"input":
// RAW_F32_PATH, "shape": [N, C, H, W], "out": PREFIX}]}]}. For each run the
// model's single input gets the little-endian float32 values of "input";
// each output NAME is written to PREFIX.NAME.f32 (little-endian float32).
// With "bench": K in a job, each run is repeated K times after one warm-up
// and nothing is written. Prints one JSON line per run on stdout:
// {"model", "out", "outputs": {NAME: dims}, "ms": [per-repeat times]}.
import { readFileSync, writeFileSync } from "node:fs";
import ort from "onnxruntime-node";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
for (const job of spec.jobs) {
  const threads = job.threads ?? 1;
  const session = await ort.InferenceSession.create(job.model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const inputName = session.inputNames[0];
  for (const run of job.runs) {
    const buf = readFileSync(run.input);
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const feeds = { [inputName]: new ort.Tensor("float32", data, run.shape) };
    const ms = [];
    let result;
    const reps = job.bench ?? 0;
    if (reps > 0) {
      await session.run(feeds); // warm-up
    }
    for (let i = 0; i < Math.max(1, reps); i++) {
      const t0 = process.hrtime.bigint();
      result = await session.run(feeds);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const outputs = {};
    for (const name of session.outputNames) {
      const t = result[name];
      outputs[name] = t.dims;
      if (!reps) {
        const f = t.data;
        writeFileSync(`${run.out}.${name}.f32`, Buffer.from(f.buffer, f.byteOffset, f.byteLength));
      }
    }
    console.log(JSON.stringify({ model: job.model, out: run.out ?? "", outputs, ms }));
  }
  await session.release();
}
