"""The public engine contract end to end: text -> tokenizer -> model, against transformers."""

import numpy as np
import torch
import transformers

import engine
from tests import checkpoint_factory as factory
from tests.document_factory import sample_paths

SAMPLES = sample_paths()


def test_tokenizer_and_model_from_one_folder(checkpoints):
    model_dir = checkpoints("qa", "grouped")
    question = "Who released ALBERT?"
    context = SAMPLES[0].read_text(encoding="utf-8")[:600]
    tok = engine.load_tokenizer(model_dir)
    enc = tok.encode(question, context, max_length=128, truncation="only_second")
    ref_tok = transformers.AlbertTokenizer.from_pretrained(model_dir)
    ref = ref_tok(question, context, max_length=128, truncation="only_second")
    assert enc.ids == ref["input_ids"]
    assert enc.type_ids == ref["token_type_ids"]
    for (start, end), seq in zip(enc.offsets, enc.sequence_ids):
        source = question if seq == 0 else context
        if seq is not None and end > start:
            piece = source[start:end]
            assert piece == piece.strip() and piece

    out = engine.load_model(model_dir)(input_ids=[enc.ids], token_type_ids=[enc.type_ids])
    hf = factory.hf_model(model_dir)
    with torch.no_grad():
        expected = hf(input_ids=torch.tensor([ref["input_ids"]]),
                      token_type_ids=torch.tensor([ref["token_type_ids"]]))
    np.testing.assert_allclose(out["start_logits"], expected.start_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(out["end_logits"], expected.end_logits.numpy(), atol=1e-4)
