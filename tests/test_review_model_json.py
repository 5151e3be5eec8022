"""Review fixes: the JSON files of a model folder outside config.json (tokenizer config, store
metadata, sentence-transformers layout) read without a traceback whatever they hold."""

import json
import shutil

import pytest

import engine
from engine.errors import CorruptModelFileError
from engine.tasks import _common, embeddings, qa

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads recurses once per level


@pytest.fixture
def folder(checkpoints, tmp_path):
    return shutil.copytree(checkpoints("encoder"), tmp_path / "model")


def test_deep_tokenizer_config_is_a_typed_error(folder):
    (folder / "tokenizer_config.json").write_text('{"a": ' + DEEP + "}")
    with pytest.raises(CorruptModelFileError) as info:
        engine.load_tokenizer(folder)
    assert "tokenizer_config.json" in str(info.value) and "\n" not in str(info.value)


def test_deep_albert_lens_json_names_the_folder(folder):
    (folder / "albert-lens.json").write_text(DEEP)
    assert _common.model_name(folder) == "model"
    assert qa.is_squad2_model(folder) is False


@pytest.mark.parametrize("modules", [DEEP, "[1, 2]", '["x"]'])
def test_odd_modules_json_falls_back_to_the_folder(folder, modules):
    (folder / "modules.json").write_text(modules)
    assert embeddings.sentence_transformers_layout(folder) == (folder, "mean", None)


def test_odd_pooling_and_sentence_bert_configs_keep_the_defaults(folder):
    (folder / "modules.json").write_text(
        '[{"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}]')
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(DEEP)
    (folder / "sentence_bert_config.json").write_text(DEEP)
    assert embeddings.sentence_transformers_layout(folder) == (folder, "mean", None)
    (folder / "1_Pooling" / "config.json").write_text("[1]")
    assert embeddings.sentence_transformers_layout(folder) == (folder, "mean", None)


def test_real_layout_still_read(folder):
    (folder / "modules.json").write_text(
        '[{"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}]')
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    assert embeddings.sentence_transformers_layout(folder) == (folder, "cls", 128)


@pytest.mark.parametrize("where", ["../other", "ABSOLUTE"])
def test_modules_json_cannot_point_outside_the_model_folder(folder, tmp_path, checkpoints, where):
    other = shutil.copytree(checkpoints("encoder"), tmp_path / "other")
    path = str(other) if where == "ABSOLUTE" else where
    (folder / "modules.json").write_text(json.dumps([
        {"type": "sentence_transformers.models.Transformer", "path": path},
        {"type": "sentence_transformers.models.Pooling", "path": path}]))
    assert embeddings.sentence_transformers_layout(folder) == (folder, "mean", None)


def test_modules_json_inside_the_folder_is_followed(folder, checkpoints):
    inner = shutil.copytree(checkpoints("encoder"), folder / "0_Transformer")
    (folder / "modules.json").write_text(
        '[{"type": "sentence_transformers.models.Transformer", "path": "0_Transformer"}]')
    assert embeddings.sentence_transformers_layout(folder) == (inner, "mean", None)
