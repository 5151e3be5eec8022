"""The model catalog, the local store, imports from folders, defaults and `albert-lens models`."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import paths
from engine.errors import (
    CorruptModelFileError,
    ModelNotFoundError,
    UnsafeModelFileError,
    UnsupportedModelError,
)
from engine.models import catalog, store
from engine.models.cli import add_models_parser
from engine.models.importer import import_model
from tests.checkpoint_factory import copy_checkpoint, edit_config
from tests.store_support import assert_nothing_installed, models_cli

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# --- catalog ------------------------------------------------------------------------------------
def test_catalog_standard_pack_one_per_task():
    pack = catalog.standard_pack()
    assert [e.task for e in pack] == list(catalog.TASKS)
    assert [e.id for e in pack] == [
        "twmkn9/albert-base-v2-squad2",
        "ArBert/albert-base-v2-finetuned-ner",
        "textattack/albert-base-v2-SST-2",
        "sentence-transformers/paraphrase-albert-small-v2",
        "Alireza1044/albert-base-v2-mnli",
    ]
    ids = {e.id for e in catalog.load_catalog()}
    assert {"Gladiator/albert-large-v2_ner_conll2003", "mfeb/albert-xxlarge-v2-squad2"} <= ids
    for entry in catalog.load_catalog():
        assert entry.title and entry.licence and entry.metric and entry.size_mb > 0
        assert entry.size_text.endswith("MB")


def test_catalog_details():
    qa = catalog.catalog_entry("TWMKN9/albert-base-v2-squad2")  # the Hub ignores case
    assert qa is not None and "81.9" in qa.metric and "SQuAD 2.0" in qa.metric
    assert qa.size_text == "about 47 MB"
    ner = catalog.catalog_entry("ArBert/albert-base-v2-finetuned-ner")
    assert "93.4" in ner.metric and ner.labels[:3] == ("O", "B-PER", "I-PER")
    sst = catalog.catalog_entry("textattack/albert-base-v2-SST-2")
    assert sst.label_map == {"LABEL_0": "negative", "LABEL_1": "positive"}
    assert sst.size_text == "46.7 MB"
    assert catalog.catalog_entry("mfeb/albert-xxlarge-v2-squad2").size_mb > 800
    assert catalog.catalog_entry("nobody/nothing") is None
    assert catalog.recommended_model("summarization").id.startswith("sentence-transformers/")


def test_task_names():
    assert catalog.canonical_task("summarization") == "embeddings"
    assert catalog.canonical_task("retrieval") == "embeddings"
    assert catalog.canonical_task("QA") == "question-answering"
    assert catalog.canonical_task("token_classification") == "ner"
    with pytest.raises(ValueError, match="Unknown task 'translation'"):
        catalog.canonical_task("translation")


# --- import: good folders -----------------------------------------------------------------------
@pytest.mark.parametrize("head, task", [
    ("qa", "question-answering"), ("token", "ner"), ("sequence", "sentiment"),
    ("encoder", "embeddings"), ("qa", "embeddings"),  # any checkpoint carries an encoder
])
def test_import_good_folder(checkpoints, head, task):
    source = checkpoints(head)
    model = import_model(source, task, model_id=f"local/{head}-{task}", convert=False)
    assert model.task == task and model.head == head and model.source == "import"
    assert model.revision is None and model.origin == str(source.resolve())
    assert set(model.files) == {p.name for p in source.iterdir()}
    for name, info in model.files.items():
        data = (source / name).read_bytes()
        assert (model.path / name).read_bytes() == data
        assert info == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert store.installed_model_dir(f"local/{head}-{task}") == model.path
    assert model.path.parent == paths.models_dir()
    assert not list(paths.models_dir().glob(".tmp-*"))


def test_import_converts_and_runs_by_id(checkpoints):
    model = import_model(checkpoints("token", safe=False), "ner", model_id="local/ner")
    assert "model.safetensors" in model.files and "pytorch_model.bin" not in model.files
    assert list(paths.graph_cache_dir().glob("albert-*-fp32.onnx"))
    loaded = engine.load_model("local/ner", device="cpu")  # resolved through the store
    reference = engine.load_model(checkpoints("token", safe=False), device="cpu")
    ids = np.array([[2, 15, 16, 3]])
    np.testing.assert_allclose(loaded(ids)["logits"], reference(ids)["logits"], atol=1e-6)


def test_import_names_from_folder_and_hf_cache_snapshot(checkpoints, tmp_path):
    plain = copy_checkpoint(checkpoints("qa"), tmp_path / "my-squad-model")
    assert import_model(plain, "qa", convert=False).id == "my-squad-model"
    sha = "ab" * 20
    snapshot = tmp_path / "hub" / "models--textattack--albert-base-v2-SST-2" / "snapshots" / sha
    copy_checkpoint(checkpoints("sequence"), snapshot)
    edit_config(snapshot, id2label={"0": "LABEL_0", "1": "LABEL_1"})
    model = import_model(snapshot, "sentiment", convert=False)
    assert model.id == "textattack/albert-base-v2-SST-2" and model.revision == sha
    # The catalog's label map applies to an imported catalog model too.
    assert json.loads((model.path / "config.json").read_text())["id2label"] == {
        "0": "negative", "1": "positive"}
    assert model.label_map == {"LABEL_0": "negative", "LABEL_1": "positive"}


def test_import_copies_only_what_is_needed(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints("encoder"), tmp_path / "st-model")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (folder / "modules.json").write_text("[]")
    (folder / "training_args.bin").write_bytes(b"\x80\x04N.")
    (folder / "README.md").write_text("card")
    (folder / "runs").mkdir()
    model = import_model(folder, "summarization", convert=False)
    assert model.task == "embeddings"
    assert "1_Pooling/config.json" in model.files and "modules.json" in model.files
    assert not (model.path / "training_args.bin").exists()
    assert not (model.path / "README.md").exists() and not (model.path / "runs").exists()


def test_reimport_replaces(checkpoints):
    first = import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    second = import_model(checkpoints("qa", safe=False), "qa", model_id="local/qa", convert=False,
                          replace=True)
    assert second.path == first.path
    # A pickle checkpoint is installed as model.safetensors (tests/test_models_bin_once.py).
    assert "pytorch_model.bin" not in second.files and "model.safetensors" in second.files
    assert not (second.path / "pytorch_model.bin").exists()
    assert [m.id for m in store.list_installed()] == ["local/qa"]


# --- import: bad folders ------------------------------------------------------------------------
def _evil_pickle(folder: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file

    tensors = {k: torch.from_numpy(v) for k, v in load_file(folder / "model.safetensors").items()}
    (folder / "model.safetensors").unlink()
    torch.save({**tensors, "payload": os.system}, folder / "pytorch_model.bin")


BAD_FOLDERS = {
    "wrong head": (lambda f: None, "ner", UnsupportedModelError, "question-answering head"),
    "not albert": (lambda f: edit_config(f, model_type="bert"), "qa", UnsupportedModelError,
                   "'bert' model"),
    "auto_map": (lambda f: edit_config(f, auto_map={"AutoModel": "x.Y"}), "qa",
                 UnsafeModelFileError, "auto_map"),
    "remote code flag": (lambda f: edit_config(f, trust_remote_code=True), "qa",
                         UnsafeModelFileError, "trust_remote_code"),
    "python file": (lambda f: (f / "modeling_albert.py").write_text("import os\n"), "qa",
                    UnsafeModelFileError, "Python code"),
    "foreign pickle global": (_evil_pickle, "qa", UnsafeModelFileError, "system"),
    "no spiece.model": (lambda f: (f / "spiece.model").unlink(), "qa", UnsupportedModelError,
                        "no spiece.model"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "qa", ModelNotFoundError,
                   "no weights"),
    "no config": (lambda f: (f / "config.json").unlink(), "qa", ModelNotFoundError,
                  "no config.json"),
    "truncated weights": (lambda f: (f / "model.safetensors").write_bytes(
        (f / "model.safetensors").read_bytes()[:5000]), "qa", CorruptModelFileError,
        "model.safetensors cannot be read"),
    "shapes disagree": (lambda f: edit_config(f, intermediate_size=40), "qa",
                        CorruptModelFileError, "shape"),
    "foreign tokenizer": (lambda f: edit_config(f, vocab_size=100), "qa", CorruptModelFileError,
                          "pieces"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_import_refuses_bad_folder(checkpoints, tmp_path, case):
    spoil, task, error, message = BAD_FOLDERS[case]
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "bad")
    spoil(folder)
    with pytest.raises(error, match=message):
        import_model(folder, task, model_id="local/bad", convert=False)
    assert_nothing_installed()


def test_import_refuses_a_file_and_a_missing_folder(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for path in (tmp_path / "file.txt", tmp_path / "nowhere"):
        with pytest.raises(ModelNotFoundError, match="is not a folder"):
            import_model(path, "qa", convert=False)
    assert_nothing_installed()


# --- the store ----------------------------------------------------------------------------------
def test_store_moves_with_albert_lens_home(tmp_path, monkeypatch, checkpoints):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "elsewhere"))
    model = import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    assert model.path.parent == tmp_path / "elsewhere" / "data" / "models"


def test_lookup_by_id_folder_and_name(checkpoints):
    model = import_model(checkpoints("qa"), "qa", model_id="Owner/Some-Model", convert=False)
    assert model.path.name == "Owner--Some-Model"
    for key in ("Owner/Some-Model", "owner/some-model", "Owner--Some-Model", "Some-Model"):
        assert store.installed_model_dir(key) == model.path, key
    assert store.installed_model_dir("Other/Some-Model") is None
    assert store.installed_model_dir("") is None
    import_model(checkpoints("qa"), "qa", model_id="Else/Some-Model", convert=False)
    assert store.installed_model_dir("Some-Model") is None  # ambiguous bare name


def test_odd_ids_get_safe_folders(checkpoints):
    model = import_model(checkpoints("qa"), "qa", model_id="../../escape me", convert=False)
    assert model.path.parent == paths.models_dir()
    assert store.installed_model_dir("../../escape me") == model.path


def test_incomplete_folders_are_not_installed(checkpoints):
    model = import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    root = paths.models_dir()
    shutil.copytree(checkpoints("qa"), root / "no-metadata")  # files without metadata
    broken = shutil.copytree(model.path, root / "broken")
    meta = json.loads((broken / store.METADATA_NAME).read_text())
    meta["id"] = "local/broken"
    (broken / store.METADATA_NAME).write_text(json.dumps(meta))
    (broken / "spiece.model").unlink()  # a file the metadata lists is gone
    garbled = shutil.copytree(model.path, root / "garbled")
    (garbled / store.METADATA_NAME).write_text("{not json")
    assert [m.id for m in store.list_installed()] == ["local/qa"]
    assert store.installed_model_dir("local/broken") is None


def test_leftover_temp_folders_ignored_then_cleaned(checkpoints):
    import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    root = paths.models_dir()
    fresh = shutil.copytree(root / "local--qa", root / ".tmp-999999-fresh")
    old = shutil.copytree(root / "local--qa", root / ".tmp-999999-old")
    stale = time.time() - 2 * store.STALE_TEMP_SECONDS
    for path in [old, *old.iterdir()]:
        os.utime(path, (stale, stale))
    assert [m.id for m in store.list_installed()] == ["local/qa"]
    assert fresh.exists() and not old.exists()


def test_remove(checkpoints):
    model = import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    removed = store.remove("local/qa")
    assert removed.id == "local/qa" and not model.path.exists()
    assert store.installed_model_dir("local/qa") is None
    assert not list(paths.models_dir().glob(".tmp-*"))
    with pytest.raises(ModelNotFoundError, match="No installed model named 'local/qa'"):
        store.remove("local/qa")


# --- defaults -----------------------------------------------------------------------------------
def test_default_model_error_says_how_to_get_one():
    with pytest.raises(ModelNotFoundError) as info:
        store.default_model_dir("question-answering")
    assert str(info.value) == (
        "No question-answering model is installed. Install one with: albert-lens models "
        "download twmkn9/albert-base-v2-squad2; without a "
        "connection, import a model folder: albert-lens models import DIR --task qa")
    with pytest.raises(ModelNotFoundError,
                       match="No summarization .*download sentence-transformers/paraphrase-albert"):
        store.default_model_dir("summarization")
    for task, model_id in (("ner", "ArBert/albert-base-v2-finetuned-ner"),
                           ("sentiment", "textattack/albert-base-v2-SST-2")):
        with pytest.raises(ModelNotFoundError, match=f"download {model_id};"):
            store.default_model_dir(task)


def test_defaults_first_installed_then_chosen_then_fallback(checkpoints):
    first = import_model(checkpoints("qa"), "qa", model_id="local/qa-1", convert=False)
    second = import_model(checkpoints("qa"), "qa", model_id="local/qa-2", convert=False)
    embed = import_model(checkpoints("encoder"), "embeddings", model_id="local/emb",
                         convert=False)
    assert store.default_model_dir("question-answering") == first.path
    assert store.default_model_dir("qa") == first.path
    assert store.default_model_dir("summarization") == embed.path
    with pytest.raises(ModelNotFoundError, match="No ner model"):
        store.default_model_dir("ner")

    store.set_default_model("question-answering", "local/qa-2")
    assert store.default_model_dir("question-answering") == second.path
    state = json.loads((paths.models_dir() / store.STATE_NAME).read_text())
    assert state["defaults"] == {"question-answering": "local/qa-2"}

    store.remove("local/qa-2")  # the chosen default goes: back to the first installed
    assert store.default_model_dir("question-answering") == first.path
    assert store.defaults() == {}


def test_set_default_refuses_wrong_or_missing_models(checkpoints):
    import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    with pytest.raises(UnsupportedModelError, match="local/qa is a question-answering model"):
        store.set_default_model("ner", "local/qa")
    with pytest.raises(ModelNotFoundError, match="'local/none' is not installed"):
        store.set_default_model("qa", "local/none")


def test_catalog_models_come_first_for_their_task(checkpoints, tmp_path):
    import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    catalog_copy = copy_checkpoint(checkpoints("qa"), tmp_path / "squad2")
    standard = import_model(catalog_copy, "qa", model_id="twmkn9/albert-base-v2-squad2",
                            convert=False)
    assert standard.title == catalog.catalog_entry(standard.id).title
    assert store.default_model_dir("question-answering") == standard.path


# --- the command line ---------------------------------------------------------------------------
def test_cli_list_empty_shows_the_catalog(capsys):
    code, out, err = models_cli(["models", "list"], capsys)
    assert code == 0 and err == ""
    assert "No models are installed" in out
    assert "twmkn9/albert-base-v2-squad2" in out and "about 47 MB" in out


def test_cli_import_list_default_remove(checkpoints, capsys):
    code, out, err = models_cli(
        ["models", "import", str(checkpoints("qa")), "--task", "qa", "--id", "local/qa",
         "--no-convert"], capsys)
    assert code == 0, err
    assert "as local/qa (question-answering" in out
    models_cli(["models", "import", str(checkpoints("sequence")), "--task", "sentiment",
                "--id", "local/sst", "--no-convert"], capsys)

    code, out, _ = models_cli(["models", "list"], capsys)
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TASK", "SIZE", "SOURCE", "REVISION", "DEFAULT"]
    row = next(line for line in lines if line.startswith("local/qa"))
    assert row.split()[1:5] == ["question-answering", "0.3", "MB", "import"]
    assert row.split()[-1] == "yes"  # the only qa model is the default

    code, out, _ = models_cli(["models", "list", "--json", "--catalog"], capsys)
    data = json.loads(out)
    assert {m["id"] for m in data["installed"]} == {"local/qa", "local/sst"}
    assert all(m["default"] for m in data["installed"])
    assert len(data["catalog"]) == len(catalog.load_catalog())

    code, out, _ = models_cli(["models", "default", "sentiment"], capsys)
    assert code == 0 and out.strip() == "local/sst"
    code, out, err = models_cli(["models", "default", "ner", "local/sst"], capsys)
    assert code == 1 and err.startswith("albert-lens: error: local/sst is a sentiment model")
    code, out, _ = models_cli(["models", "default", "sentiment", "local/sst"], capsys)
    assert code == 0 and "now the default sentiment model" in out

    code, out, _ = models_cli(["models", "remove", "local/qa"], capsys)
    assert code == 0 and out.strip() == "Removed local/qa."
    code, out, err = models_cli(["models", "remove", "local/qa"], capsys)
    assert code == 1 and err.count("\n") == 1 and "No installed model named" in err


def test_cli_import_refusal_is_one_line(checkpoints, tmp_path, capsys):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "custom")
    edit_config(folder, auto_map={"AutoModel": "x.Y"})
    code, out, err = models_cli(["models", "import", str(folder), "--task", "qa"], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "auto_map" in err
    assert_nothing_installed()


def test_cli_default_with_nothing_installed(capsys):
    code, _, err = models_cli(["models", "default", "summarization"], capsys)
    assert code == 1
    assert "albert-lens models download sentence-transformers/paraphrase-albert-small-v2" in err


def test_cli_usage_errors_exit_2(capsys):
    parser = argparse.ArgumentParser(prog="albert-lens")
    add_models_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["models", "import"])  # DIR is required
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["models", "download", "x/y", "--task", "translation"])
