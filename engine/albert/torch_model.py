"""A plain PyTorch ALBERT, built from the same AlbertWeights as the ONNX graph.

It is the optional `backend="torch"` (CUDA when torch has it) and an independent cross-check of
the graph builder. torch is imported only when this module is.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.albert.config import AlbertConfig
from engine.albert.weights import AlbertWeights, LayerWeights

_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


def _param(array: np.ndarray) -> nn.Parameter:
    return nn.Parameter(torch.from_numpy(np.array(array, dtype=np.float32)), requires_grad=False)


class _Layer(nn.Module):
    def __init__(self, w: LayerWeights, config: AlbertConfig):
        super().__init__()
        self.qkv_w = _param(np.concatenate([w.query_w, w.key_w, w.value_w]))
        self.qkv_b = _param(np.concatenate([w.query_b, w.key_b, w.value_b]))
        self.out_w, self.out_b = _param(w.attn_out_w), _param(w.attn_out_b)
        self.ln1_w, self.ln1_b = _param(w.attn_ln_w), _param(w.attn_ln_b)
        self.ffn_w, self.ffn_b = _param(w.ffn_w), _param(w.ffn_b)
        self.ffn_out_w, self.ffn_out_b = _param(w.ffn_out_w), _param(w.ffn_out_b)
        self.ln2_w, self.ln2_b = _param(w.out_ln_w), _param(w.out_ln_b)
        self.heads = config.num_attention_heads
        self.eps = config.layer_norm_eps
        self.act = _ACTIVATIONS[config.activation]

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, h = hidden.shape
        qkv = F.linear(hidden, self.qkv_w, self.qkv_b).view(b, s, 3, self.heads, h // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        context = context.transpose(1, 2).reshape(b, s, h)
        attended = F.layer_norm(hidden + F.linear(context, self.out_w, self.out_b), (h,),
                                self.ln1_w, self.ln1_b, self.eps)
        inner = self.act(F.linear(attended, self.ffn_w, self.ffn_b))
        return F.layer_norm(attended + F.linear(inner, self.ffn_out_w, self.ffn_out_b), (h,),
                            self.ln2_w, self.ln2_b, self.eps)


class TorchAlbert(nn.Module):
    """Outputs the same dict as the ONNX graph (Hugging Face output names)."""

    def __init__(self, config: AlbertConfig, weights: AlbertWeights):
        super().__init__()
        self.config = config
        self.head = weights.head
        self.word = _param(weights.word_embeddings)
        self.position = _param(weights.position_embeddings)
        self.token_type = _param(weights.token_type_embeddings)
        self.emb_ln_w, self.emb_ln_b = _param(weights.emb_ln_w), _param(weights.emb_ln_b)
        self.map_w, self.map_b = _param(weights.mapping_w), _param(weights.mapping_b)
        self.groups = nn.ModuleList(
            nn.ModuleList(_Layer(layer, config) for layer in group) for group in weights.groups
        )
        self.has_pooler = weights.pooler_w is not None
        if self.has_pooler:
            self.pool_w, self.pool_b = _param(weights.pooler_w), _param(weights.pooler_b)
        if weights.head_w is not None:
            self.head_w, self.head_b = _param(weights.head_w), _param(weights.head_b)

    def forward(self, input_ids, attention_mask, token_type_ids) -> dict[str, torch.Tensor]:
        c = self.config
        seq = input_ids.shape[1]
        emb = (F.embedding(input_ids, self.word) + F.embedding(token_type_ids, self.token_type)
               + self.position[:seq])
        emb = F.layer_norm(emb, (c.embedding_size,), self.emb_ln_w, self.emb_ln_b,
                           c.layer_norm_eps)
        hidden = F.linear(emb, self.map_w, self.map_b)
        # Additive mask over keys, broadcast over heads and queries.
        bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(
            hidden.dtype).min
        for depth in range(c.num_hidden_layers):
            for layer in self.groups[c.group_of_layer(depth)]:
                hidden = layer(hidden, bias)
        out = {"last_hidden_state": hidden}
        if self.has_pooler:
            out["pooler_output"] = torch.tanh(F.linear(hidden[:, 0], self.pool_w, self.pool_b))
        if self.head == "qa":
            start, end = F.linear(hidden, self.head_w, self.head_b).unbind(-1)
            out["start_logits"], out["end_logits"] = start, end
        elif self.head == "token":
            out["logits"] = F.linear(hidden, self.head_w, self.head_b)
        elif self.head == "sequence":
            out["logits"] = F.linear(out["pooler_output"], self.head_w, self.head_b)
        return out


