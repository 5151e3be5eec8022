"""Build the ALBERT ONNX graph straight from the weights (no torch, no tracing).

The encoder uses ONNX Runtime's fused operators (com.microsoft Attention, SkipLayerNormalization,
BiasGelu / FastGelu): they carry most of the speed on CPU and GPU alike. Layers that ALBERT shares
refer to the same initializers, so each shared weight is stored once in the file. Initializers
carry the checkpoint's own names (`encoder.albert_layer_groups.0.albert_layers.0.ffn.weight`);
the one tensor it lacks is each layer's fused `attention.qkv`.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.albert.config import AlbertConfig
from engine.albert.outputs import POOLER_OUTPUT
from engine.albert.weights import AlbertWeights, layer_prefix

# Bump when the graph changes shape or semantics: it is part of the cache key.
GRAPH_VERSION = 5
ONNX_OPSET = 17
MS_DOMAIN = "com.microsoft"


class _GraphWriter:
    """Collects nodes and initializers with unique, readable names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, array: np.ndarray) -> str:
        # np.ascontiguousarray would turn a scalar into shape (1,), which changes Gather's rank.
        array = np.asarray(array)
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def param(self, weights: AlbertWeights, name: str, transpose: bool = False) -> str:
        """A checkpoint tensor under its own name; `transpose`: a Linear weight (out, in) stored
        as (in, out), the right-hand side of a MatMul."""
        return self.const(name, weights[name].T if transpose else weights[name])

    def op(self, op_type: str, inputs: list[str], name: str, n_out: int = 1,
           domain: str = "", **attrs) -> str | list[str]:
        self._count += 1
        outputs = [name] if n_out == 1 else [f"{name}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(
            op_type, inputs, outputs, name=f"{name}/{op_type}", domain=domain or None, **attrs
        ))
        return outputs[0] if n_out == 1 else outputs


def _layer_initializers(w: _GraphWriter, weights: AlbertWeights, prefix: str) -> None:
    """Initializers of one shared layer, under the checkpoint's names, laid out for the fused
    operators: query, key and value concatenated into `attention.qkv` for Attention."""
    parts = [f"{prefix}attention.{name}" for name in ("query", "key", "value")]
    w.const(f"{prefix}attention.qkv.weight",
            np.concatenate([weights[f"{p}.weight"].T for p in parts], axis=1))
    w.const(f"{prefix}attention.qkv.bias", np.concatenate([weights[f"{p}.bias"] for p in parts]))
    for module in ("attention.dense", "ffn", "ffn_output"):
        w.param(weights, f"{prefix}{module}.weight", transpose=True)
        w.param(weights, f"{prefix}{module}.bias")
    for norm in ("attention.LayerNorm", "full_layer_layer_norm"):
        w.param(weights, f"{prefix}{norm}.weight")
        w.param(weights, f"{prefix}{norm}.bias")


def _activation(w: _GraphWriter, x: str, bias: str, kind: str, name: str) -> str:
    if kind == "gelu":
        return w.op("BiasGelu", [x, bias], name, domain=MS_DOMAIN)
    if kind == "gelu_tanh":
        return w.op("FastGelu", [x, bias], name, domain=MS_DOMAIN)
    biased = w.op("Add", [x, bias], f"{name}/bias")
    if kind == "relu":
        return w.op("Relu", [biased], name)
    if kind == "silu":
        return w.op("Mul", [biased, w.op("Sigmoid", [biased], f"{name}/sigmoid")], name)
    raise ValueError(f"unknown activation {kind}")


def _layer(w: _GraphWriter, hidden: str, mask: str, p: str, config: AlbertConfig,
           name: str) -> str:
    """One application of the shared layer whose initializers are named under prefix `p`."""
    eps = float(config.layer_norm_eps)
    context = w.op("Attention", [hidden, f"{p}attention.qkv.weight", f"{p}attention.qkv.bias",
                                 mask], f"{name}/attention", domain=MS_DOMAIN,
                   num_heads=config.num_attention_heads)
    projected = w.op("MatMul", [context, f"{p}attention.dense.weight"], f"{name}/attention_dense")
    attended = w.op("SkipLayerNormalization",
                    [projected, hidden, f"{p}attention.LayerNorm.weight",
                     f"{p}attention.LayerNorm.bias", f"{p}attention.dense.bias"],
                    f"{name}/attention_norm", domain=MS_DOMAIN, epsilon=eps)
    inner = w.op("MatMul", [attended, f"{p}ffn.weight"], f"{name}/ffn")
    activated = _activation(w, inner, f"{p}ffn.bias", config.activation, f"{name}/act")
    out = w.op("MatMul", [activated, f"{p}ffn_output.weight"], f"{name}/ffn_output")
    return w.op("SkipLayerNormalization",
                [out, attended, f"{p}full_layer_layer_norm.weight",
                 f"{p}full_layer_layer_norm.bias", f"{p}ffn_output.bias"],
                f"{name}/output_norm", domain=MS_DOMAIN, epsilon=eps)


def build_graph(config: AlbertConfig, weights: AlbertWeights) -> onnx.ModelProto:
    """The ONNX model for `weights.head`, with dynamic batch and sequence axes."""
    w = _GraphWriter()
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]

    # Embeddings: word + position + token type, LayerNorm, then the E -> H projection.
    word = w.op("Gather", [w.param(weights, "embeddings.word_embeddings.weight"), "input_ids"],
                "embeddings/word")
    token_type = w.op("Gather", [w.param(weights, "embeddings.token_type_embeddings.weight"),
                                 "token_type_ids"], "embeddings/token_type")
    seq_len = w.op("Gather", [w.op("Shape", ["input_ids"], "embeddings/shape"),
                              w.const("const.one", np.array(1, dtype=np.int64))],
                   "embeddings/seq_len", axis=0)
    positions = w.op("Range", [w.const("const.zero", np.array(0, dtype=np.int64)), seq_len,
                               "const.one"], "embeddings/position_ids")
    position = w.op("Gather", [w.param(weights, "embeddings.position_embeddings.weight"),
                               positions], "embeddings/position")
    summed = w.op("Add", [w.op("Add", [word, token_type], "embeddings/add0"), position],
                  "embeddings/add1")
    normed = w.op("LayerNormalization", [summed, w.param(weights, "embeddings.LayerNorm.weight"),
                                         w.param(weights, "embeddings.LayerNorm.bias")],
                  "embeddings/norm", axis=-1, epsilon=float(config.layer_norm_eps))
    mapped = w.op("MatMul", [normed, w.param(weights, "encoder.embedding_hidden_mapping_in.weight",
                                             transpose=True)], "encoder/mapping")
    hidden = w.op("Add", [mapped, w.param(weights, "encoder.embedding_hidden_mapping_in.bias")],
                  "encoder/mapping_bias")
    mask = w.op("Cast", ["attention_mask"], "encoder/mask_int32", to=TensorProto.INT32)

    # Shared layers: initializers once per (group, inner layer); nodes once per use.
    for g in range(config.num_hidden_groups):
        for i in range(config.inner_group_num):
            _layer_initializers(w, weights, layer_prefix(g, i))
    for depth in range(config.num_hidden_layers):
        for i in range(config.inner_group_num):
            hidden = _layer(w, hidden, mask, layer_prefix(config.group_of_layer(depth), i),
                            config, f"layer{depth}.{i}")
    outputs = weights.outputs
    produced = {"last_hidden_state": w.op("Identity", [hidden], "last_hidden_state")}

    if POOLER_OUTPUT in outputs:
        first = w.op("Gather", [hidden, "const.zero"], "pooler/first_token", axis=1)
        dense = w.op("Gemm", [first, w.param(weights, "pooler.weight"),
                              w.param(weights, "pooler.bias")], "pooler/dense", transB=1)
        produced["pooler_output"] = w.op("Tanh", [dense], "pooler_output")
    if weights.head == "qa":
        logits = w.op("Add", [w.op("MatMul", [hidden, w.param(weights, "qa_outputs.weight",
                                                               transpose=True)], "qa/dense"),
                              w.param(weights, "qa_outputs.bias")], "qa/logits")
        start, end = w.op("Split", [logits, w.const("const.split", np.array([1, 1], np.int64))],
                          "qa/split", n_out=2, axis=-1)
        axes = w.const("const.last_axis", np.array([-1], dtype=np.int64))
        produced["start_logits"] = w.op("Squeeze", [start, axes], "start_logits")
        produced["end_logits"] = w.op("Squeeze", [end, axes], "end_logits")
    elif weights.head == "token":
        produced["logits"] = w.op(
            "Add", [w.op("MatMul", [hidden, w.param(weights, "classifier.weight", transpose=True)],
                         "classifier/dense"), w.param(weights, "classifier.bias")], "logits")
    elif weights.head == "sequence":
        produced["logits"] = w.op(
            "Gemm", [produced["pooler_output"], w.param(weights, "classifier.weight"),
                     w.param(weights, "classifier.bias")], "logits", transB=1)

    # Every producing node above is named after its public output.
    out_infos = [helper.make_tensor_value_info(o.name, TensorProto.FLOAT, list(o.axes))
                 for o in outputs]
    graph = helper.make_graph(w.nodes, f"albert_{weights.head}", inputs, out_infos,
                              initializer=w.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET),
                                                    helper.make_opsetid(MS_DOMAIN, 1)],
                              producer_name="albert-lens", producer_version=str(GRAPH_VERSION))
    model.ir_version = 8
    return model
