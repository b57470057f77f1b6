"""Checks ONNX models with Debian's python3-onnx (the reference checker).

    /usr/bin/python3 scripts/oracles/onnx_check.py MODEL.onnx...

For each model: onnx.checker.check_model(model, full_check=True), then
strict shape inference; prints one JSON line per model with the IR version,
the opsets, and each graph output's inferred shape (dim_value, or
dim_param, or null) next to the declared one, and each initializer's name,
dtype, dims and the sha256 of its little-endian values as numpy reads them.
Exits 1 on the first failure.
"""
import hashlib
import json
import sys

import onnx
from onnx import numpy_helper, shape_inference


def dims(vi):
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def main():
    for path in sys.argv[1:]:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        strict = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        # The outputs' shapes inferred from the nodes alone: infer again on
        # a copy whose outputs declare no shape.
        bare = onnx.ModelProto()
        bare.CopyFrom(model)
        for o in bare.graph.output:
            o.type.tensor_type.ClearField("shape")
        inferred = shape_inference.infer_shapes(bare, check_type=True, strict_mode=True)
        got = {o.name: dims(o) for o in inferred.graph.output}
        outputs = {o.name: {"declared": dims(o), "inferred": got[o.name]} for o in strict.graph.output}
        print(json.dumps({
            "path": path,
            "ir_version": model.ir_version,
            "opsets": {op.domain or "ai.onnx": op.version for op in model.opset_import},
            "outputs": outputs,
            "initializers": [
                {"name": t.name, "dtype": str(a.dtype), "dims": list(t.dims),
                 "sha256": hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()}
                for t in model.graph.initializer for a in [numpy_helper.to_array(t)]
            ],
            "inputs": {i.name: dims(i) for i in model.graph.input},
            "nodes": len(model.graph.node),
            "metadata": {p.key: p.value for p in model.metadata_props},
        }), flush=True)


if __name__ == "__main__":
    main()
