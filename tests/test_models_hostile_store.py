"""The store under hostile conditions: re-imports, unreadable files, a read-only or misplaced
store, a full disk during conversion, concurrent processes; and `detect_task`.

The permission cases run the CLI in a child process; when the tests run as root the child gives up
the capabilities that let root ignore file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so the
modes apply to it as to any user.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engine.models
from engine import paths
from engine.errors import ModelError, ModelExistsError, StoreError
from engine.models import store
from engine.models.importer import import_model
from tests.checkpoint_factory import copy_checkpoint, edit_config
from tests.store_support import assert_nothing_installed, models_cli

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
# File modes as permissions: POSIX only (on Windows chmod sets a read-only flag at most).
posix_modes = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _drop_file_mode_override() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, out of the bounding set
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def cli_process(argv: list[str], home: Path, as_user: bool = False, timeout: float = 120
                ) -> subprocess.CompletedProcess:
    """`albert-lens ARGV` in a child process; `as_user`: file modes bind it even under root."""
    env = {**os.environ, "ALBERT_LENS_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("ALBERT_LENS_DEBUG", None)
    preexec = None
    if as_user and getattr(os, "geteuid", lambda: -1)() == 0:
        if not sys.platform.startswith("linux"):
            pytest.skip("needs Linux to run a root child without its file-mode override")
        preexec = _drop_file_mode_override
    try:
        return subprocess.run([sys.executable, "-m", "engine.cli", *argv], check=False,
                              cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout,
                              preexec_fn=preexec)
    except subprocess.SubprocessError as exc:
        if "prctl" in str(exc):
            pytest.skip(f"cannot drop capabilities here: {exc}")
        raise


def assert_one_line_error(result: subprocess.CompletedProcess, code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("albert-lens: error: ")
    return result.stderr


# --- issue 12: re-import needs --replace --------------------------------------------------------
def test_reimport_of_an_installed_id_is_refused(checkpoints, capsys):
    first = import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    before = {n: (first.path / n).read_bytes() for n in first.files}
    with pytest.raises(ModelExistsError, match="local/qa is already installed"):
        import_model(checkpoints("qa", safe=False), "qa", model_id="local/qa", convert=False)
    with pytest.raises(ModelExistsError):
        import_model(checkpoints("qa"), "qa", model_id="LOCAL/QA", convert=False)  # any case
    code, out, err = models_cli(["models", "import", str(checkpoints("qa", safe=False)),
                                 "--task", "qa", "--id", "local/qa", "--no-convert"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "local/qa is already installed; add --replace" in err
    kept = store.get_installed("local/qa")
    assert {n: (kept.path / n).read_bytes() for n in kept.files} == before
    assert not list(paths.models_dir().glob(".tmp-*"))


def test_replace_swaps_the_model(checkpoints, capsys):
    import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    code, _out, err = models_cli(["models", "import", str(checkpoints("qa", safe=False)),
                                 "--task", "qa", "--id", "local/qa", "--no-convert", "--replace"],
                                capsys)
    assert code == 0, err
    model = store.get_installed("local/qa")
    assert "model.safetensors" in model.files and not (model.path / "pytorch_model.bin").exists()
    assert [m.id for m in store.list_installed()] == ["local/qa"]
    assert not list(paths.models_dir().glob(".tmp-*"))


def test_a_replacement_that_fails_keeps_the_old_model(checkpoints, monkeypatch):
    old = import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    before = {n: (old.path / n).read_bytes() for n in old.files}
    _fill_disk_during_conversion(monkeypatch)
    with pytest.raises(ModelError, match="Not enough disk space"):
        import_model(checkpoints("qa", safe=False), "qa", model_id="local/qa", replace=True)
    kept = store.get_installed("local/qa")
    assert kept is not None and {n: (kept.path / n).read_bytes() for n in kept.files} == before
    assert not list(paths.models_dir().glob(".tmp-*"))


# --- issue 12: detect_task ----------------------------------------------------------------------
@pytest.mark.parametrize("head, task", [
    ("qa", "question-answering"), ("token", "ner"), ("sequence", "sentiment"),
    ("encoder", "embeddings"),
])
def test_detect_task_from_architectures(checkpoints, head, task):
    assert engine.models.detect_task(checkpoints(head)) == task
    assert engine.models.detect_task(str(checkpoints(head))) == task
    assert task in engine.models.TASKS


@pytest.mark.parametrize("arch", ["AlbertForMaskedLM", "AlbertForPreTraining", "AlbertModel"])
def test_detect_task_plain_encoders_are_for_summaries(checkpoints, tmp_path, arch):
    folder = copy_checkpoint(checkpoints("encoder"), tmp_path / "enc")
    edit_config(folder, architectures=[arch])
    assert engine.models.detect_task(folder) == "embeddings"


def test_detect_task_unknown(checkpoints, tmp_path):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "plain")
    edit_config(folder, architectures=None)
    assert engine.models.detect_task(folder) is None
    edit_config(folder, architectures=["BertForQuestionAnswering"])
    assert engine.models.detect_task(folder) is None
    edit_config(folder, architectures=5)
    assert engine.models.detect_task(folder) is None
    (folder / "config.json").write_text("[" * 100_000)
    assert engine.models.detect_task(folder) is None
    assert engine.models.detect_task(tmp_path / "nowhere") is None


def test_cli_import_without_task_uses_the_config(checkpoints, tmp_path, capsys):
    code, out, err = models_cli(["models", "import", str(checkpoints("sequence")), "--id",
                                 "local/sst", "--no-convert"], capsys)
    assert code == 0, err
    assert store.get_installed("local/sst").task == "sentiment"
    assert "(sentiment (task from config.json)" in out
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "anonymous")
    edit_config(folder, architectures=None)
    code, out, err = models_cli(["models", "import", str(folder), "--no-convert"], capsys)
    assert code == 1 and err.count("\n") == 1 and "--task" in err
    assert [m.id for m in store.list_installed()] == ["local/sst"]


# --- issue 13: failures during conversion install nothing ---------------------------------------
def _fill_disk_during_conversion(monkeypatch) -> None:
    from engine.runtime import graph_cache

    def full(path, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(graph_cache, "atomic_write_bytes", full)


def test_disk_full_during_conversion_installs_nothing(checkpoints, monkeypatch, capsys):
    _fill_disk_during_conversion(monkeypatch)
    with pytest.raises(ModelError, match="Not enough disk space in .*graphs"):
        import_model(checkpoints("token"), "ner", model_id="local/ner")
    assert_nothing_installed()
    code, _out, err = models_cli(["models", "import", str(checkpoints("token")), "--task", "ner",
                                 "--id", "local/ner"], capsys)
    assert code == 1 and err.count("\n") == 1 and "Not enough disk space" in err
    assert_nothing_installed()


def test_out_of_memory_during_conversion_installs_nothing(checkpoints, monkeypatch):
    from engine.runtime import onnx_backend

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(onnx_backend, "build_graph", no_memory)
    with pytest.raises(ModelError, match="Not enough memory to convert"):
        import_model(checkpoints("qa"), "qa", model_id="local/qa")
    assert_nothing_installed()


def test_conversion_happens_before_the_model_is_installed(checkpoints, monkeypatch):
    from engine.runtime import onnx_backend

    seen = []
    real = onnx_backend.converted_graph

    def spy(model_dir, *args):
        seen.append(store.list_installed())
        return real(model_dir, *args)

    monkeypatch.setattr(onnx_backend, "converted_graph", spy)
    model = import_model(checkpoints("qa"), "qa", model_id="local/qa")
    assert seen == [[]]
    assert engine.load_model("local/qa", device="cpu") is not None
    assert model.path.is_dir()


# --- issue 13: permissions and a misplaced store ------------------------------------------------
@posix_modes
def test_unreadable_weights_say_permission_denied(checkpoints, tmp_path, home):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "locked")
    (folder / "model.safetensors").chmod(0)
    result = cli_process(["models", "import", str(folder), "--task", "qa", "--no-convert"], home,
                         as_user=True)
    err = assert_one_line_error(result)
    assert f"cannot read {folder / 'model.safetensors'}: permission denied" in err
    assert "No such file" not in err
    assert_nothing_installed()


@posix_modes
def test_unreadable_config_says_permission_denied(checkpoints, tmp_path, home):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "locked-config")
    (folder / "config.json").chmod(0)
    result = cli_process(["models", "import", str(folder), "--task", "qa", "--no-convert"], home,
                         as_user=True)
    err = assert_one_line_error(result)
    assert f"cannot read {folder / 'config.json'}: permission denied" in err


@posix_modes
def test_read_only_store(checkpoints, home):
    import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    root = paths.models_dir()
    root.chmod(0o555)
    try:
        result = cli_process(["models", "import", str(checkpoints("token")), "--task", "ner",
                              "--id", "local/ner", "--no-convert"], home, as_user=True)
        err = assert_one_line_error(result)
        assert str(root) in err and "permission denied" in err
        for argv in (["models", "remove", "local/qa"], ["models", "default", "qa", "local/qa"]):
            err = assert_one_line_error(cli_process(argv, home, as_user=True))
            assert "permission denied" in err
        listed = cli_process(["models", "list"], home, as_user=True)
        assert listed.returncode == 0 and "local/qa" in listed.stdout
    finally:
        root.chmod(0o755)
    assert [m.id for m in store.list_installed()] == ["local/qa"]


def test_albert_lens_home_is_a_file(checkpoints, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("ALBERT_LENS_HOME", str(blocker))
    with pytest.raises(StoreError, match=f"{blocker} is a file, not a folder.*ALBERT_LENS_HOME"):
        import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)
    for argv in (["models", "import", str(checkpoints("qa")), "--task", "qa", "--no-convert"],
                 ["models", "remove", "local/qa"], ["models", "default", "qa"],
                 ["models", "default", "qa", "local/qa"], ["models", "download", "x/y"]):
        code, out, err = models_cli(argv, capsys)
        assert code == 1 and err.count("\n") == 1, (argv, err)
    code, out, err = models_cli(["models", "list"], capsys)
    assert code == 0 and "No models are installed" in out
    assert blocker.read_text() == "x"


# --- issue 13: concurrent processes -------------------------------------------------------------
WORKER = textwrap.dedent("""
    import io, json, sys
    from engine.cli import main
    folders, rounds, me = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    results = []
    for i in range(rounds):
        key = (me + i) % 4
        folder, task = folders[key % 2]
        argv = [
            ["models", "import", folder, "--task", task, "--id", "race/shared", "--no-convert",
             "--replace"],
            ["models", "import", folder, "--task", task, "--id", f"race/own-{me}", "--no-convert"],
            ["models", "remove", "race/shared"],
            ["models", "default", "qa", "race/shared"],
        ][key]
        err = io.StringIO()
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = io.StringIO(), err
        try:
            code = main(argv)
        finally:
            sys.stdout, sys.stderr = old
        results.append([argv[1], code, err.getvalue()])
    print(json.dumps(results))
""")


def test_concurrent_imports_and_removes_keep_the_store_consistent(checkpoints, home):
    folders = [[str(checkpoints("qa")), "qa"], [str(checkpoints("qa", safe=False)), "qa"]]
    env = {**os.environ, "ALBERT_LENS_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(folders), "4", str(n)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for n in range(12)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=170)
        assert proc.returncode == 0 and "Traceback" not in err, err
        outcomes += json.loads(out)
    assert len(outcomes) == 48
    for command, code, err in outcomes:
        if code == 0:
            assert err == ""
        else:
            assert code in (1, 2) and err.count("\n") == 1, (command, code, err)
            assert "No installed model named" in err or "is not installed" in err, err
    # Every process that imported its own id succeeded: nothing it did was lost.
    own = {m.id for m in store.list_installed() if m.id.startswith("race/own-")}
    assert own == {f"race/own-{n}" for n in range(12)}  # each process imported its own once
    root = paths.models_dir()
    for child in root.iterdir():
        if child.name == store.STATE_NAME:
            continue  # the defaults, checked below
        if child.name.startswith("."):
            assert child.name in (store.LOCK_NAME, store.DOWNLOADS_NAME), child.name
            continue
        model = store.read_metadata(child)
        assert model is not None, child
        for name, info in model.files.items():
            assert hashlib.sha256((child / name).read_bytes()).hexdigest() == info["sha256"]
        expected = set(model.files) | {store.METADATA_NAME}
        assert {p.relative_to(child).as_posix() for p in child.rglob("*") if p.is_file()} == \
            expected
    state = root / store.STATE_NAME
    if state.exists():
        chosen = json.loads(state.read_text()).get("defaults", {})
        installed = {m.id for m in store.list_installed()}
        assert set(chosen.values()) <= installed


def test_remove_deletes_the_models_converted_graphs(checkpoints):
    from engine.runtime import graph_cache

    if not hasattr(graph_cache, "forget_model"):
        pytest.skip("this graph cache cannot forget a model's graphs")
    import_model(checkpoints("qa"), "qa", model_id="local/qa")
    assert list(paths.graph_cache_dir().glob("albert-*-fp32.onnx"))
    store.remove("local/qa")
    assert not list(paths.graph_cache_dir().glob("albert-*.onnx"))
