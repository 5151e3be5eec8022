"""Hostile model folders: config.json values beyond what ALBERT uses, odd JSON, lying weights.

Every folder is a tiny real checkpoint (tests/checkpoint_factory.py) with one thing spoiled, and
every refusal must be a typed error with a one-line message naming the file, with nothing left
installed and nothing converted.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from engine import paths
from engine.albert import config as albert_config
from engine.albert.config import AlbertConfig, read_json_object
from engine.errors import (
    CorruptModelFileError,
    ModelError,
    ModelFileUnreadableError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from engine.models import store
from engine.models.importer import import_model
from tests.checkpoint_factory import copy_checkpoint, edit_config, hf_model
from tests.store_support import assert_nothing_installed, models_cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_raw_config(folder: Path, **changes) -> None:
    """Like edit_config, but NaN and Infinity are written as the JSON literals Python emits."""
    path = folder / "config.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2, allow_nan=True))


# --- real ALBERT shapes pass ------------------------------------------------------------------------
# The published configs of albert-{base,large,xlarge,xxlarge}-v2 (Hugging Face Hub).
REAL_CONFIGS = {
    "base": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
              "num_hidden_layers": 12},
    "large": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
              "num_hidden_layers": 24},
    "xlarge": {"hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 16,
              "num_hidden_layers": 24},
    "xxlarge": {"hidden_size": 4096, "intermediate_size": 16384, "num_attention_heads": 64,
              "num_hidden_layers": 12},
}


@pytest.mark.parametrize("name", sorted(REAL_CONFIGS))
def test_real_albert_configs_are_within_bounds(name):
    data = {"model_type": "albert", "vocab_size": 30000, "embedding_size": 128,
            "max_position_embeddings": 512, "type_vocab_size": 2, "num_hidden_groups": 1,
            "inner_group_num": 1, "layer_norm_eps": 1e-12, "architectures": ["AlbertForMaskedLM"],
            **REAL_CONFIGS[name]}
    config = AlbertConfig.from_dict(data)
    assert config.graph_bytes() <= albert_config.MAX_GRAPH_BYTES


def test_parameter_count_matches_transformers(checkpoints):
    # A sequence-classification checkpoint holds exactly what the estimate counts: embeddings,
    # the shared layers, the pooler and a two-label classifier.
    for shape in ("plain", "grouped"):
        folder = checkpoints("sequence", shape)
        config = AlbertConfig.from_pretrained(folder)
        assert config.parameter_count() == hf_model(folder).num_parameters()


def test_graph_estimate_is_an_upper_bound(checkpoints):
    from engine.albert.graph import build_graph
    from engine.albert.weights import load_weights

    for head, shape in (("qa", "plain"), ("token", "grouped"), ("sequence", "plain")):
        folder = checkpoints(head, shape)
        config = AlbertConfig.from_pretrained(folder)
        built = len(build_graph(config, load_weights(folder, config, head)).SerializeToString())
        assert built <= config.graph_bytes()


# --- oversized configs are refused before anything is read --------------------------------------
OVERSIZED = {
    "num_hidden_layers": 1_000_000,  # issue 13: a 412 kB folder claiming a million layers
    "hidden_size": 16384,
    "intermediate_size": 65536,
    "num_attention_heads": 256,
    "vocab_size": 1_000_000,
    "embedding_size": 8192,
    "max_position_embeddings": 100_000,
    "type_vocab_size": 1000,
    "num_hidden_groups": 1000,
    "inner_group_num": 1000,
}


@pytest.mark.parametrize("field", sorted(OVERSIZED))
def test_oversized_config_value_is_refused(checkpoints, tmp_path, field):
    folder = copy_checkpoint(checkpoints("token"), tmp_path / "huge")
    edit_config(folder, **{field: OVERSIZED[field]})
    with pytest.raises(UnsupportedModelError) as info:
        import_model(folder, "ner", model_id="local/huge")
    message = str(info.value)
    assert str(folder / "config.json") in message and field in message and "\n" not in message
    assert_nothing_installed(graphs=True)
    with pytest.raises(ModelNotFoundError):  # it never became the default NER model
        store.default_model_dir("ner")


def test_million_layers_cli_is_one_line_and_installs_nothing(checkpoints, tmp_path, capsys):
    folder = copy_checkpoint(checkpoints("token"), tmp_path / "deep")
    edit_config(folder, num_hidden_layers=1_000_000)
    code, out, err = models_cli(["models", "import", str(folder), "--task", "ner"], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "num_hidden_layers is 1,000,000" in err and "at most 48" in err
    assert_nothing_installed(graphs=True)


def test_layers_times_inner_groups_is_bounded(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints("qa", "grouped"), tmp_path / "nested")
    edit_config(folder, num_hidden_layers=48, inner_group_num=4)  # 192 layer runs
    with pytest.raises(UnsupportedModelError, match="at most 96 in all"):
        import_model(folder, "qa", model_id="local/nested")
    assert_nothing_installed(graphs=True)


def test_graph_cost_is_checked_before_conversion(checkpoints, tmp_path, monkeypatch):
    # Each size is within its own bound, but together the graph would pass protobuf's 2 GiB.
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "wide")
    edit_config(folder, hidden_size=8192, intermediate_size=32768, num_attention_heads=64)
    from engine.runtime import onnx_backend

    def never(*args, **kwargs):
        raise AssertionError("the conversion started")

    monkeypatch.setattr(onnx_backend, "build_graph", never)
    with pytest.raises(UnsupportedModelError, match=r"graph of about 3\.\d GB.*up to 2\.0 GB"):
        import_model(folder, "qa", model_id="local/wide")
    assert_nothing_installed(graphs=True)


def test_num_labels_without_id2label_reads_as_transformers(checkpoints, tmp_path):
    import transformers

    folder = copy_checkpoint(checkpoints("sequence"), tmp_path / "unnamed")
    data = json.loads((folder / "config.json").read_text())
    for key in ("id2label", "label2id"):
        data.pop(key)
    data["num_labels"] = 2
    (folder / "config.json").write_text(json.dumps(data))
    reference = transformers.AlbertConfig.from_pretrained(folder)
    assert AlbertConfig.from_pretrained(folder).id2label == reference.id2label
    assert import_model(folder, "sentiment", model_id="local/unnamed", convert=False)


def test_more_groups_than_the_weights_hold(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "groups")
    edit_config(folder, num_hidden_groups=2)
    with pytest.raises(CorruptModelFileError, match="lacks the tensor"):
        import_model(folder, "qa", model_id="local/groups")
    assert_nothing_installed(graphs=True)


def test_weights_far_larger_than_the_config_are_not_read(checkpoints, tmp_path, monkeypatch):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "padded")
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.truncate(200 << 20)  # sparse: 200 MB on paper, a few kB on disk
    from engine.models import importer

    def never(*args, **kwargs):
        raise AssertionError("the weights were read")

    monkeypatch.setattr(importer, "read_state_dict", never)
    with pytest.raises(CorruptModelFileError, match="far more than the .* parameters"):
        import_model(folder, "qa", model_id="local/padded", convert=False)
    assert_nothing_installed(graphs=True)


# --- values of the wrong kind -------------------------------------------------------------------
@pytest.mark.parametrize("eps", [math.nan, math.inf, -math.inf, 0, -1e-12, 2.0, "1e-12", True])
def test_bad_layer_norm_eps_is_refused_at_import(checkpoints, tmp_path, eps):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "eps")
    write_raw_config(folder, layer_norm_eps=eps)
    with pytest.raises(CorruptModelFileError) as info:
        import_model(folder, "qa", model_id="local/eps", convert=False)
    assert str(folder / "config.json") in str(info.value)
    assert "layer_norm_eps" in str(info.value)
    assert_nothing_installed(graphs=True)


WRONG_KINDS = {
    "architectures an int": ({"architectures": 5}, "architectures must be a list"),
    "architectures a string": ({"architectures": "AlbertForQuestionAnswering"},
                               "architectures must be a list"),
    "id2label a list": ({"id2label": ["O", "B-PER"]}, "id2label must be an object"),
    "id2label key not a number": ({"id2label": {"zero": "O", "one": "B-PER"}},
                                  "id2label key 'zero' is not a label number"),
    "id2label with a gap": ({"id2label": {"0": "O", "2": "B-PER"}}, "number its labels 0 to 1"),
    "id2label name an object": ({"id2label": {"0": {"x": 1}}}, "must be text"),
    "too many labels": ({"id2label": {str(i): f"L{i}" for i in range(1001)}},
                        "at most 1000"),
    "num_labels too many": ({"num_labels": 1001}, "num_labels must be an integer from 1 to 1000"),
    "num_labels a string": ({"num_labels": "2"}, "num_labels must be an integer"),
    "problem_type a list": ({"problem_type": ["x"]}, "problem_type must be text"),
    "size a float": ({"hidden_size": 32.0}, "hidden_size must be a positive integer"),
    "size a bool": ({"num_hidden_layers": True}, "num_hidden_layers must be a positive"),
}


@pytest.mark.parametrize("case", sorted(WRONG_KINDS))
def test_config_values_of_the_wrong_kind(checkpoints, tmp_path, capsys, case):
    changes, message = WRONG_KINDS[case]
    folder = copy_checkpoint(checkpoints("sequence"), tmp_path / "odd")
    edit_config(folder, **changes)
    with pytest.raises(ModelError, match=message) as info:
        import_model(folder, "sentiment", model_id="local/odd", convert=False)
    assert str(folder / "config.json") in str(info.value)
    code, _out, err = models_cli(
        ["models", "import", str(folder), "--task", "sentiment", "--no-convert"], capsys)
    assert code == 1 and err.count("\n") == 1 and str(folder / "config.json") in err
    assert_nothing_installed(graphs=True)


# --- the JSON reader ----------------------------------------------------------------------------
def test_deep_json_config_is_one_line(checkpoints, tmp_path, capsys):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "nested-json")
    (folder / "config.json").write_text('{"a": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(CorruptModelFileError, match="nests deeper than 64 levels"):
        import_model(folder, "qa", model_id="local/deep", convert=False)
    code, _, err = models_cli(["models", "import", str(folder), "--task", "qa"], capsys)
    assert code == 1 and err.count("\n") == 1 and str(folder / "config.json") in err
    assert_nothing_installed(graphs=True)


def test_deep_json_elsewhere_in_the_folder(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "tok")
    (folder / "tokenizer_config.json").write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(CorruptModelFileError, match="tokenizer_config.json nests deeper"):
        import_model(folder, "qa", model_id="local/tok", convert=False)
    assert_nothing_installed(graphs=True)


def test_deep_json_in_the_store_is_ignored(checkpoints):
    model = import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    store.set_default_model("qa", "local/qa")
    (paths.models_dir() / store.STATE_NAME).write_text("{" * 10 + "[" * 100_000)
    assert store.default_model_dir("qa") == model.path  # the first installed, as with no choice
    (model.path / store.METADATA_NAME).write_text('{"format": ' + "[" * 100_000)
    assert store.list_installed() == []


def test_json_reader_bounds(tmp_path):
    big = tmp_path / "big.json"
    big.write_text('{"a": "' + "x" * (albert_config.MAX_JSON_BYTES + 10) + '"}')
    with pytest.raises(CorruptModelFileError, match="at most 4,194,304 bytes"):
        read_json_object(big)
    with pytest.raises(CorruptModelFileError, match="does not hold a JSON object"):
        (tmp_path / "list.json").write_text("[1, 2]")
        read_json_object(tmp_path / "list.json")
    with pytest.raises(CorruptModelFileError, match="cannot be read as JSON"):
        (tmp_path / "open.json").write_text('{"a": "' + '\\"' * 100_000)
        read_json_object(tmp_path / "open.json")
    with pytest.raises(CorruptModelFileError, match="not UTF-8"):
        (tmp_path / "latin.json").write_bytes(b'{"a": "\xe9"}')
        read_json_object(tmp_path / "latin.json")
    with pytest.raises(ModelNotFoundError, match="missing"):
        read_json_object(tmp_path / "none.json")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ModelFileUnreadableError, match="cannot read .*dir.json"):
        read_json_object(tmp_path / "dir.json")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.json")
        with pytest.raises(ModelFileUnreadableError, match="not a regular file"):
            read_json_object(tmp_path / "fifo.json")  # returns at once: never waits for a writer
    many = tmp_path / "labels.json"
    many.write_text(json.dumps({"id2label": {str(i): f"L{i}" for i in range(1000)}}))
    assert len(read_json_object(many)["id2label"]) == 1000  # many brackets-free keys are fine


def test_weight_index_is_read_by_the_bounded_reader(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "sharded")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder / "model.safetensors.index.json").write_text('{"weight_map": ' + "[" * 100_000)
    with pytest.raises(CorruptModelFileError, match="index.json nests deeper"):
        from engine.models.importer import shard_names

        shard_names(folder / "model.safetensors.index.json")
