"""What each head outputs: Hugging Face names in the graph's order, and their axes.

The graph builder, the torch backend and `LoadedModel` all read this table, so a head's outputs
are named, ordered and shaped in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    name: str
    axes: tuple[str, ...]

    @property
    def per_token(self) -> bool:
        """One row per token: trimmed back to each sequence's own length after padding."""
        return "sequence" in self.axes


LAST_HIDDEN_STATE = Output("last_hidden_state", ("batch", "sequence", "hidden"))
POOLER_OUTPUT = Output("pooler_output", ("batch", "hidden"))

HEAD_OUTPUTS: dict[str, tuple[Output, ...]] = {
    "encoder": (LAST_HIDDEN_STATE, POOLER_OUTPUT),
    "qa": (Output("start_logits", ("batch", "sequence")), Output("end_logits", ("batch", "sequence")),
           LAST_HIDDEN_STATE),
    "token": (Output("logits", ("batch", "sequence", "labels")), LAST_HIDDEN_STATE),
    "sequence": (Output("logits", ("batch", "labels")), POOLER_OUTPUT, LAST_HIDDEN_STATE),
}


def head_outputs(head: str, has_pooler: bool = True) -> tuple[Output, ...]:
    """The outputs of `head`; an encoder saved without a pooler (a masked-LM checkpoint's) has
    no pooler_output."""
    return tuple(o for o in HEAD_OUTPUTS[head] if has_pooler or o is not POOLER_OUTPUT)


def uses_pooler(head: str) -> bool:
    return any(o is POOLER_OUTPUT for o in HEAD_OUTPUTS[head])
