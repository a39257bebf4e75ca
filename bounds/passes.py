"""Graph passes on the ONNX model before ops are built."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _batchnorm_affine(bn: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (scale, shift) of an inference BatchNormalization with constant parameters."""
    if len(bn.input) != 5 or any(a.name == "training_mode" and a.i for a in bn.attribute):
        return None
    if any(name not in inits for name in bn.input[1:]):
        return None
    gamma, beta, mean, var = (numpy_helper.to_array(inits[n]).astype(np.float64) for n in bn.input[1:])
    eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def _scaled_layer(
    prev: onnx.NodeProto, inits: dict[str, onnx.TensorProto], scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.dtype] | None:
    """The weight and bias of a Conv/Gemm with each output channel multiplied by scale."""
    if len(prev.input) < 2 or prev.input[1] not in inits:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in prev.attribute}
    if prev.op_type == "Gemm" and (
        attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0
    ):
        return None
    raw = numpy_helper.to_array(inits[prev.input[1]])
    weight = raw.astype(np.float64)
    out_axis = 0 if prev.op_type == "Conv" or attrs.get("transB", 0) else 1
    if weight.ndim < 2 or weight.shape[out_axis] != scale.shape[0]:
        return None
    shape = [1] * weight.ndim
    shape[out_axis] = -1
    bias = np.zeros(scale.shape[0])
    if len(prev.input) > 2 and prev.input[2]:
        if prev.input[2] not in inits:
            return None
        given = numpy_helper.to_array(inits[prev.input[2]]).astype(np.float64)
        if given.size not in (1, scale.shape[0]):
            return None
        bias = np.broadcast_to(given.reshape(-1), scale.shape)
    return weight * scale.reshape(shape), bias * scale, raw.dtype


def fold_batchnorm(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold each inference BatchNormalization into the Conv or Gemm that alone feeds it.

    ``W' = W * s`` per output channel and ``b' = b * s + t``, with ``s = gamma / sqrt(var + eps)``
    and ``t = beta - mean * s``. Returns a new model; the argument is left unchanged.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    for out in graph.output:
        uses[out.name] = uses.get(out.name, 0) + 1
    producer = {out: node for node in graph.node for out in node.output}
    folded: dict[int, onnx.NodeProto] = {}  # id(Conv/Gemm) -> replacement
    dropped: set[int] = set()  # id(BatchNormalization)
    for bn in graph.node:
        prev = producer.get(bn.input[0]) if bn.op_type == "BatchNormalization" and bn.input else None
        if prev is None or prev.op_type not in ("Conv", "Gemm") or uses.get(bn.input[0]) != 1 or id(prev) in folded:
            continue
        affine = _batchnorm_affine(bn, inits)
        layer = _scaled_layer(prev, inits, affine[0]) if affine is not None else None
        if affine is None or layer is None:
            continue
        weight, bias, dtype = layer
        stem = bn.name or bn.output[0]
        graph.initializer.extend(
            [
                numpy_helper.from_array(weight.astype(dtype), f"{stem}/folded_weight"),
                numpy_helper.from_array((bias + affine[1]).astype(dtype), f"{stem}/folded_bias"),
            ]
        )
        replacement = onnx.NodeProto()
        replacement.CopyFrom(prev)
        del replacement.input[:]
        replacement.input.extend([prev.input[0], f"{stem}/folded_weight", f"{stem}/folded_bias"])
        del replacement.output[:]
        replacement.output.append(bn.output[0])
        folded[id(prev)] = replacement
        dropped.add(id(bn))
    if folded:
        nodes = [folded.get(id(n), n) for n in graph.node if id(n) not in dropped]
        del graph.node[:]
        graph.node.extend(nodes)
    return model
