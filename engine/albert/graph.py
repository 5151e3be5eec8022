"""Build the ALBERT ONNX graph straight from the weights (no torch, no tracing).

The encoder uses ONNX Runtime's fused operators (com.microsoft Attention, SkipLayerNormalization,
BiasGelu / FastGelu): they carry most of the speed on CPU and GPU alike. Layers that ALBERT shares
refer to the same initializers, so each shared weight is stored once in the file.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.albert.config import AlbertConfig
from engine.albert.weights import AlbertWeights, LayerWeights

# Bump when the graph changes shape or semantics: it is part of the cache key.
GRAPH_VERSION = 4
ONNX_OPSET = 17
MS_DOMAIN = "com.microsoft"

OUTPUTS_OF_HEAD = {
    "encoder": ("last_hidden_state", "pooler_output"),
    "qa": ("start_logits", "end_logits", "last_hidden_state"),
    "token": ("logits", "last_hidden_state"),
    "sequence": ("logits", "pooler_output", "last_hidden_state"),
}


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

    def op(self, op_type: str, inputs: list[str], name: str, n_out: int = 1,
           domain: str = "", **attrs) -> str | list[str]:
        self._count += 1
        outputs = [name] if n_out == 1 else [f"{name}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(
            op_type, inputs, outputs, name=f"{name}/{op_type}", domain=domain or None, **attrs
        ))
        return outputs[0] if n_out == 1 else outputs


def _layer_initializers(w: _GraphWriter, prefix: str, layer: LayerWeights) -> dict[str, str]:
    """Initializers of one shared layer, laid out for the fused operators."""
    qkv_w = np.concatenate([layer.query_w.T, layer.key_w.T, layer.value_w.T], axis=1)
    qkv_b = np.concatenate([layer.query_b, layer.key_b, layer.value_b])
    return {
        "qkv_w": w.const(f"{prefix}.attention.qkv.weight", qkv_w),
        "qkv_b": w.const(f"{prefix}.attention.qkv.bias", qkv_b),
        "out_w": w.const(f"{prefix}.attention.dense.weight", layer.attn_out_w.T),
        "out_b": w.const(f"{prefix}.attention.dense.bias", layer.attn_out_b),
        "attn_ln_w": w.const(f"{prefix}.attention.LayerNorm.weight", layer.attn_ln_w),
        "attn_ln_b": w.const(f"{prefix}.attention.LayerNorm.bias", layer.attn_ln_b),
        "ffn_w": w.const(f"{prefix}.ffn.weight", layer.ffn_w.T),
        "ffn_b": w.const(f"{prefix}.ffn.bias", layer.ffn_b),
        "ffn_out_w": w.const(f"{prefix}.ffn_output.weight", layer.ffn_out_w.T),
        "ffn_out_b": w.const(f"{prefix}.ffn_output.bias", layer.ffn_out_b),
        "out_ln_w": w.const(f"{prefix}.full_layer_layer_norm.weight", layer.out_ln_w),
        "out_ln_b": w.const(f"{prefix}.full_layer_layer_norm.bias", layer.out_ln_b),
    }


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


def _layer(w: _GraphWriter, hidden: str, mask: str, p: dict[str, str],
           config: AlbertConfig, name: str) -> str:
    eps = float(config.layer_norm_eps)
    context = w.op("Attention", [hidden, p["qkv_w"], p["qkv_b"], mask], f"{name}/attention",
                   domain=MS_DOMAIN, num_heads=config.num_attention_heads)
    projected = w.op("MatMul", [context, p["out_w"]], f"{name}/attention_dense")
    attended = w.op("SkipLayerNormalization",
                    [projected, hidden, p["attn_ln_w"], p["attn_ln_b"], p["out_b"]],
                    f"{name}/attention_norm", domain=MS_DOMAIN, epsilon=eps)
    inner = w.op("MatMul", [attended, p["ffn_w"]], f"{name}/ffn")
    activated = _activation(w, inner, p["ffn_b"], config.activation, f"{name}/act")
    out = w.op("MatMul", [activated, p["ffn_out_w"]], f"{name}/ffn_output")
    return w.op("SkipLayerNormalization",
                [out, attended, p["out_ln_w"], p["out_ln_b"], p["ffn_out_b"]],
                f"{name}/output_norm", domain=MS_DOMAIN, epsilon=eps)


def build_graph(config: AlbertConfig, weights: AlbertWeights,
                outputs: tuple[str, ...] | None = None) -> onnx.ModelProto:
    """The ONNX model for `weights.head`, with dynamic batch and sequence axes."""
    w = _GraphWriter()
    if outputs is None:
        # QA and token-classification checkpoints carry no pooler: their encoder has no pooler_output.
        outputs = tuple(name for name in OUTPUTS_OF_HEAD[weights.head]
                        if name != "pooler_output" or weights.pooler_w is not None)
    batch_seq = ["batch", "sequence"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, batch_seq)
              for n in ("input_ids", "attention_mask", "token_type_ids")]

    # Embeddings: word + position + token type, LayerNorm, then the E -> H projection.
    word = w.op("Gather", [w.const("embeddings.word", weights.word_embeddings), "input_ids"],
                "embeddings/word")
    token_type = w.op("Gather", [w.const("embeddings.token_type", weights.token_type_embeddings),
                                 "token_type_ids"], "embeddings/token_type")
    seq_len = w.op("Gather", [w.op("Shape", ["input_ids"], "embeddings/shape"),
                              w.const("const.one", np.array(1, dtype=np.int64))],
                   "embeddings/seq_len", axis=0)
    positions = w.op("Range", [w.const("const.zero", np.array(0, dtype=np.int64)), seq_len,
                               "const.one"], "embeddings/position_ids")
    position = w.op("Gather", [w.const("embeddings.position", weights.position_embeddings),
                               positions], "embeddings/position")
    summed = w.op("Add", [w.op("Add", [word, token_type], "embeddings/add0"), position],
                  "embeddings/add1")
    normed = w.op("LayerNormalization", [summed, w.const("embeddings.LayerNorm.weight",
                                                         weights.emb_ln_w),
                                         w.const("embeddings.LayerNorm.bias", weights.emb_ln_b)],
                  "embeddings/norm", axis=-1, epsilon=float(config.layer_norm_eps))
    mapped = w.op("MatMul", [normed, w.const("encoder.mapping.weight", weights.mapping_w.T)],
                  "encoder/mapping")
    hidden = w.op("Add", [mapped, w.const("encoder.mapping.bias", weights.mapping_b)],
                  "encoder/mapping_bias")
    mask = w.op("Cast", ["attention_mask"], "encoder/mask_int32", to=TensorProto.INT32)

    # Shared layers: initializers once per (group, inner layer); nodes once per use.
    shared = [[_layer_initializers(w, f"group{g}.layer{i}", layer)
               for i, layer in enumerate(layers)] for g, layers in enumerate(weights.groups)]
    for depth in range(config.num_hidden_layers):
        for i, params in enumerate(shared[config.group_of_layer(depth)]):
            hidden = _layer(w, hidden, mask, params, config, f"layer{depth}.{i}")
    produced = {"last_hidden_state": w.op("Identity", [hidden], "last_hidden_state")}

    if weights.pooler_w is not None:
        first = w.op("Gather", [hidden, "const.zero"], "pooler/first_token", axis=1)
        dense = w.op("Gemm", [first, w.const("pooler.weight", weights.pooler_w),
                              w.const("pooler.bias", weights.pooler_b)], "pooler/dense", transB=1)
        produced["pooler_output"] = w.op("Tanh", [dense], "pooler_output")
    if weights.head == "qa":
        logits = w.op("Add", [w.op("MatMul", [hidden, w.const("qa.weight", weights.head_w.T)],
                                   "qa/dense"), w.const("qa.bias", weights.head_b)], "qa/logits")
        start, end = w.op("Split", [logits, w.const("const.split", np.array([1, 1], np.int64))],
                          "qa/split", n_out=2, axis=-1)
        axes = w.const("const.last_axis", np.array([-1], dtype=np.int64))
        produced["start_logits"] = w.op("Squeeze", [start, axes], "start_logits")
        produced["end_logits"] = w.op("Squeeze", [end, axes], "end_logits")
    elif weights.head == "token":
        produced["logits"] = w.op(
            "Add", [w.op("MatMul", [hidden, w.const("classifier.weight", weights.head_w.T)],
                         "classifier/dense"), w.const("classifier.bias", weights.head_b)], "logits")
    elif weights.head == "sequence":
        produced["logits"] = w.op(
            "Gemm", [produced["pooler_output"], w.const("classifier.weight", weights.head_w),
                     w.const("classifier.bias", weights.head_b)], "logits", transB=1)

    missing = [o for o in outputs if o not in produced]
    if missing:
        raise ValueError(f"this checkpoint cannot produce {missing}")
    out_infos = []
    for name in outputs:  # every producing node above is named after its public output
        rank = {"pooler_output": ["batch", "hidden"], "start_logits": batch_seq,
                "end_logits": batch_seq}.get(name)
        if name == "logits":
            rank = ["batch", "labels"] if weights.head == "sequence" else batch_seq + ["labels"]
        shape = rank or batch_seq + ["hidden"]
        out_infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))

    graph = helper.make_graph(w.nodes, f"albert_{weights.head}", inputs, out_infos,
                              initializer=w.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET),
                                                    helper.make_opsetid(MS_DOMAIN, 1)],
                              producer_name="albert-lens", producer_version=str(GRAPH_VERSION))
    model.ir_version = 8
    return model
