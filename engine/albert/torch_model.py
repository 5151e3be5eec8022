"""A plain PyTorch ALBERT, loaded from the same AlbertWeights as the ONNX graph.

It is the optional `backend="torch"` (CUDA when torch has it) and an independent cross-check of
the graph builder. Its attribute paths are the checkpoint's parameter names
(`encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight`), so the tensors load
with a strict `load_state_dict` and no renaming. torch is imported only when this module is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.albert.config import AlbertConfig
from engine.albert.weights import HEAD_MODULE, AlbertWeights

_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


class AlbertEmbeddings(nn.Module):
    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.embedding_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.embedding_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.embedding_size)
        self.LayerNorm = nn.LayerNorm(c.embedding_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        seq = input_ids.shape[1]
        return self.LayerNorm(self.word_embeddings(input_ids)
                              + self.token_type_embeddings(token_type_ids)
                              + self.position_embeddings.weight[:seq])


class AlbertAttention(nn.Module):
    def __init__(self, c: AlbertConfig):
        super().__init__()
        H = c.hidden_size
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        self.dense = nn.Linear(H, H)
        self.LayerNorm = nn.LayerNorm(H, eps=c.layer_norm_eps)
        self.heads = c.num_attention_heads

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, h = hidden.shape

        def split(x: torch.Tensor) -> torch.Tensor:  # (batch, heads, sequence, head size)
            return x.view(b, s, self.heads, h // self.heads).transpose(1, 2)

        context = F.scaled_dot_product_attention(
            split(self.query(hidden)), split(self.key(hidden)), split(self.value(hidden)),
            attn_mask=bias)
        return self.LayerNorm(hidden + self.dense(context.transpose(1, 2).reshape(b, s, h)))


class AlbertLayer(nn.Module):
    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.attention = AlbertAttention(c)
        self.ffn = nn.Linear(c.hidden_size, c.intermediate_size)
        self.ffn_output = nn.Linear(c.intermediate_size, c.hidden_size)
        self.full_layer_layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.act = _ACTIVATIONS[c.activation]

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        attended = self.attention(hidden, bias)
        return self.full_layer_layer_norm(attended + self.ffn_output(self.act(self.ffn(attended))))


class AlbertLayerGroup(nn.Module):
    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.albert_layers = nn.ModuleList(AlbertLayer(c) for _ in range(c.inner_group_num))


class AlbertEncoder(nn.Module):
    def __init__(self, c: AlbertConfig):
        super().__init__()
        self.embedding_hidden_mapping_in = nn.Linear(c.embedding_size, c.hidden_size)
        self.albert_layer_groups = nn.ModuleList(
            AlbertLayerGroup(c) for _ in range(c.num_hidden_groups))


class TorchAlbert(nn.Module):
    """Outputs the same dict as the ONNX graph (Hugging Face output names)."""

    def __init__(self, config: AlbertConfig, weights: AlbertWeights):
        super().__init__()
        self.config = config
        self.head = weights.head
        # Built without memory, then the checkpoint's tensors become the parameters.
        with torch.device("meta"):
            self.embeddings = AlbertEmbeddings(config)
            self.encoder = AlbertEncoder(config)
            self.pooler = nn.Linear(config.hidden_size, config.hidden_size) \
                if weights.has_pooler else None
            if self.head != "encoder":
                out = 2 if self.head == "qa" else config.num_labels
                setattr(self, HEAD_MODULE[self.head], nn.Linear(config.hidden_size, out))
        self.load_state_dict({k: torch.from_numpy(v) for k, v in weights.tensors.items()},
                             strict=True, assign=True)
        self.requires_grad_(False)

    def forward(self, input_ids, attention_mask, token_type_ids) -> dict[str, torch.Tensor]:
        c = self.config
        hidden = self.encoder.embedding_hidden_mapping_in(
            self.embeddings(input_ids, token_type_ids))
        # Additive mask over keys, broadcast over heads and queries.
        bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(
            hidden.dtype).min
        groups = self.encoder.albert_layer_groups
        for depth in range(c.num_hidden_layers):
            for layer in groups[c.group_of_layer(depth)].albert_layers:
                hidden = layer(hidden, bias)
        out = {"last_hidden_state": hidden}
        if self.pooler is not None:
            out["pooler_output"] = torch.tanh(self.pooler(hidden[:, 0]))
        if self.head == "qa":
            out["start_logits"], out["end_logits"] = self.qa_outputs(hidden).unbind(-1)
        elif self.head == "token":
            out["logits"] = self.classifier(hidden)
        elif self.head == "sequence":
            out["logits"] = self.classifier(out["pooler_output"])
        return out
