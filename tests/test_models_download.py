"""Downloads from a local server that answers like the Hugging Face Hub (tests/fake_hub.py).

No test here touches the real internet: HF_ENDPOINT points at 127.0.0.1, proxies are unset.
After every failure, nothing half-installed may remain.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import paths
from engine.errors import (
    DownloadCancelled,
    DownloadError,
    UnsafeModelFileError,
    UnsupportedModelError,
)
from engine.models import download as dl
from engine.models import store
from engine.models.download import download_model
from tests.checkpoint_factory import copy_checkpoint, edit_config
from tests.fake_hub import FakeHub
from tests.store_support import models_cli

pytestmark = pytest.mark.timeout(60)

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
TOKENIZER = ("spiece.model", "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """A store of our own for every test."""
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Undo the test session's offline mode, for a local server only (no token, no proxy)."""
    from huggingface_hub import constants
    from huggingface_hub import utils as hub_utils

    # huggingface_hub >= 1.0 renamed reset_sessions to close_session.
    reset_sessions = getattr(hub_utils, "reset_sessions", None) or hub_utils.close_session

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    reset_sessions()  # sessions made while offline refuse every request
    yield
    reset_sessions()


# The HTTP client download_model reads the files with; None: huggingface_hub's own (requests
# below 1.0, httpx from 1.0 on). The `client` fixture runs a test with each kind in turn.
SESSION = None


def httpx_module():
    """httpx2 (what huggingface_hub 2.x uses), else httpx (1.x); the test is skipped without."""
    for name in ("httpx2", "httpx"):
        try:
            return __import__(name)
        except ImportError:
            continue
    pytest.skip("neither httpx2 nor httpx is installed")


@pytest.fixture(params=["requests", "httpx"])
def client(request, monkeypatch):
    """Runs the test over a requests.Session and over an httpx client (follow_redirects, as
    huggingface_hub >= 1.0 makes it), whichever huggingface_hub is installed."""
    if request.param == "requests":
        session = pytest.importorskip("requests").Session()
    else:
        session = httpx_module().Client(follow_redirects=True)
    monkeypatch.setattr(sys.modules[__name__], "SESSION", session)
    yield session
    session.close()


@pytest.fixture
def hub(online, monkeypatch):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def fetch(repo_id: str, **kwargs):
    kwargs.setdefault("convert", False)
    kwargs.setdefault("retry_wait", 0)
    kwargs.setdefault("timeout", 10)
    kwargs.setdefault("session", SESSION)
    return download_model(repo_id, **kwargs)


def assert_nothing_installed(home: Path) -> None:
    """No model listed, and no folder in the store that could pass for one."""
    assert store.list_installed() == []
    root = paths.models_dir()
    if root.exists():
        for child in root.iterdir():
            assert not (child / store.METADATA_NAME).exists(), child
            assert child.name.startswith(".") or not child.is_dir(), child
        assert not list(root.glob(".tmp-*"))


def parts(home: Path) -> list[Path]:
    return sorted(store.downloads_dir().rglob("*.part")) if store.downloads_dir().exists() else []


# --- success ------------------------------------------------------------------------------------
@pytest.mark.usefixtures("client")
def test_download_installs_verifies_records_and_converts(hub, checkpoints, home):
    source = checkpoints("qa")
    files = {p.name: p.read_bytes() for p in source.iterdir()}
    extras = {"README.md": b"# card\n", "training_args.bin": b"\x80\x04N.",
              "modeling_extra.py": b"raise SystemExit\n", "tokenizer.json": b"{}"}
    repo = hub.add_repo("tester/tiny-qa", {**files, **extras})
    seen = []
    stages = []

    model = fetch("tester/tiny-qa", progress=lambda d, t, n: seen.append((d, t, n)),
                  stage=stages.append, convert=True)

    assert model.id == "tester/tiny-qa"
    assert model.task == "question-answering" and model.head == "qa" and model.source == "hub"
    assert model.revision == repo.commit
    assert set(model.files) == set(files)  # only what we need, none of the extras
    for name, data in files.items():
        assert (model.path / name).read_bytes() == data
        assert model.files[name]["sha256"] == hashlib.sha256(data).hexdigest()
    meta = json.loads((model.path / store.METADATA_NAME).read_text())
    assert meta["revision"] == repo.commit and meta["origin"] == hub.url
    assert meta["requested_revision"] == "main"
    # Nothing of the extras was even requested.
    asked = {r.path for r in hub.requests}
    assert not any(p.endswith(tuple(extras)) for p in asked)
    # Progress: monotonic, ends at the total, which is the size of what was fetched.
    done = [d for d, _, _ in seen]
    assert done == sorted(done)
    assert seen[-1][0] == seen[-1][1] == sum(len(d) for d in files.values())
    assert {n for _, _, n in seen} == set(files)
    assert stages[0] == "Contacting the Hub" and stages[-1] == "Converting to ONNX"
    # Installed, found by id, nothing left over, and the graph is already cached.
    assert store.installed_model_dir("tester/tiny-qa") == model.path
    assert [m.id for m in store.list_installed()] == ["tester/tiny-qa"]
    assert parts(home) == [] and not list(paths.models_dir().glob(".tmp-*"))
    assert list(paths.graph_cache_dir().glob("albert-*-fp32.onnx"))


def test_downloaded_model_runs_from_the_cache(hub, checkpoints, monkeypatch):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    fetch("tester/tiny-qa", convert=True)
    import engine.runtime.onnx_backend as backend

    def no_build(*args, **kwargs):
        raise AssertionError("the graph should have been converted at install")

    monkeypatch.setattr(backend, "build_graph", no_build)
    installed = engine.load_model("tester/tiny-qa", device="cpu")
    monkeypatch.undo()
    reference = engine.load_model(checkpoints("qa"), device="cpu")
    ids = np.array([[2, 10, 11, 12, 3]])
    got, want = installed(ids), reference(ids)
    np.testing.assert_allclose(got["start_logits"], want["start_logits"], atol=1e-6)


def test_catalog_model_gets_task_and_label_map(hub, checkpoints, tmp_path):
    # A stand-in for textattack/albert-base-v2-SST-2: labels LABEL_0/LABEL_1, pytorch_model.bin.
    folder = copy_checkpoint(checkpoints("sequence", safe=False), tmp_path / "sst2")
    edit_config(folder, id2label={"0": "LABEL_0", "1": "LABEL_1"},
                label2id={"LABEL_0": 0, "LABEL_1": 1})
    hub.add_repo("textattack/albert-base-v2-SST-2", folder)

    model = fetch("TextAttack/albert-base-v2-sst-2")  # any case: the Hub's spelling is kept

    assert model.id == "textattack/albert-base-v2-SST-2"
    assert model.task == "sentiment" and model.head == "sequence"
    assert "model.safetensors" in model.files and "pytorch_model.bin" not in model.files
    config = json.loads((model.path / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    meta = json.loads((model.path / store.METADATA_NAME).read_text())
    assert meta["label_map"] == {"LABEL_0": "negative", "LABEL_1": "positive"}
    assert meta["original_id2label"] == {"0": "LABEL_0", "1": "LABEL_1"}
    assert model.title and "SST-2" in model.title
    assert engine.load_model(model.id, device="cpu").id2label == {0: "negative", 1: "positive"}


def test_sentence_transformers_layout_for_summaries(hub, checkpoints):
    files = {p.name: p.read_bytes() for p in checkpoints("encoder").iterdir()}
    files["modules.json"] = json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"}]).encode()
    files["1_Pooling/config.json"] = b'{"word_embedding_dimension": 32, ' \
                                     b'"pooling_mode_mean_tokens": true}'
    files["sentence_bert_config.json"] = b'{"max_seq_length": 100, "do_lower_case": false}'
    hub.add_repo("tester/tiny-embeddings", files)

    model = fetch("tester/tiny-embeddings")

    assert model.task == "embeddings" and model.head == "encoder"
    assert (model.path / "1_Pooling" / "config.json").read_bytes() == files["1_Pooling/config.json"]
    assert {"modules.json", "sentence_bert_config.json", "1_Pooling/config.json"} <= set(model.files)
    assert store.default_model_dir("summarization") == model.path
    assert store.default_model_dir("retrieval") == model.path


def test_safetensors_preferred_over_pickle(hub, checkpoints):
    files = {p.name: p.read_bytes() for p in checkpoints("qa").iterdir()}
    files["pytorch_model.bin"] = (checkpoints("qa", safe=False) / "pytorch_model.bin").read_bytes()
    hub.add_repo("tester/both", files)
    model = fetch("tester/both")
    assert "model.safetensors" in model.files and "pytorch_model.bin" not in model.files
    assert hub.file_requests("pytorch_model.bin") == []


def test_pinned_revision_and_unknown_revision(hub, checkpoints):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    model = fetch("tester/tiny-qa", revision=repo.commit)
    assert model.revision == repo.commit
    with pytest.raises(DownloadError, match="no revision 'v9'"):
        fetch("tester/tiny-qa", revision="v9")


def test_new_revision_replaces_the_installed_one(hub, checkpoints, tmp_path):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    first = fetch("tester/tiny-qa")
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "v2")
    (folder / "special_tokens_map.json").write_text('{"unk_token": "<unk>"}')
    second_repo = hub.add_repo("tester/tiny-qa", folder)
    second = fetch("tester/tiny-qa")
    assert second.revision == second_repo.commit != first.revision
    assert second.path == first.path and [m.id for m in store.list_installed()] == [second.id]
    assert (second.path / "special_tokens_map.json").read_text() == '{"unk_token": "<unk>"}'


# --- interruptions ------------------------------------------------------------------------------
@pytest.mark.usefixtures("client")
def test_resume_after_a_cut_connection(hub, checkpoints, home):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    weights = repo.files["model.safetensors"]
    hub.cut["model.safetensors"] = (70_000, 1)  # past the first 64 KiB chunk

    with pytest.raises(DownloadError, match="connection to 127.0.0.1:\\d+ was lost while "
                                            "downloading model.safetensors.*did not finish.*"
                                            "Run it again to resume"):
        fetch("tester/tiny-qa", retries=0)
    assert_nothing_installed(home)
    [part] = [p for p in parts(home) if p.name == "model.safetensors.part"]
    kept = part.stat().st_size
    assert 0 < kept < len(weights) and part.read_bytes() == weights[:kept]

    model = fetch("tester/tiny-qa", retries=0)

    ranges = [r.headers.get("Range") for r in hub.file_requests("model.safetensors")]
    assert ranges == [None, f"bytes={kept}-"]
    assert (model.path / "model.safetensors").read_bytes() == weights
    # Files finished in the first attempt were not fetched again.
    assert len(hub.file_requests("config.json")) == 1
    assert parts(home) == []


@pytest.mark.usefixtures("client")
def test_retries_resume_within_one_call(hub, checkpoints):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.cut["spiece.model"] = (100_000, 2)
    model = fetch("tester/tiny-qa", retries=3)
    ranges = [r.headers.get("Range") for r in hub.file_requests("spiece.model")]
    assert ranges[0] is None and all(r and r.startswith("bytes=") for r in ranges[1:])
    assert len(ranges) == 3
    assert (model.path / "spiece.model").read_bytes() == repo.files["spiece.model"]


@pytest.mark.usefixtures("client")
def test_cancel_mid_file_then_resume(hub, checkpoints, home):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    state = {"weights": 0}

    def progress(done, total, name):
        if name == "model.safetensors":
            state["weights"] += 1

    def cancel():
        return state["weights"] >= 2  # once some of the weights have arrived

    with pytest.raises(DownloadCancelled, match="cancelled"):
        fetch("tester/tiny-qa", progress=progress, cancel=cancel)
    assert_nothing_installed(home)
    [part] = [p for p in parts(home) if p.name == "model.safetensors.part"]
    assert 0 < part.stat().st_size < len(repo.files["model.safetensors"])

    model = fetch("tester/tiny-qa")
    assert hub.file_requests("model.safetensors")[-1].headers.get("Range")
    assert (model.path / "model.safetensors").read_bytes() == repo.files["model.safetensors"]


def test_cancel_before_anything_is_asked(hub, checkpoints, home):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    with pytest.raises(DownloadCancelled):
        fetch("tester/tiny-qa", cancel=lambda: True)
    assert hub.requests == []
    assert_nothing_installed(home)


def test_a_model_downloaded_elsewhere_is_refused_at_once(hub, checkpoints, home):
    """Another process (a second window, the CLI) holding the model's download lock."""
    import subprocess
    import sys

    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hold = ("import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
            "lock.acquire(); print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(dl.lock_path("Tester/Tiny-QA"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DownloadError, match="already being downloaded"):
            fetch("tester/tiny-qa")
        assert hub.requests == []
        assert_nothing_installed(home)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    model = fetch("tester/tiny-qa")  # the lock went with its process
    assert (model.path / "model.safetensors").read_bytes() == repo.files["model.safetensors"]


def test_two_threads_downloading_one_model_get_one_install(hub, checkpoints, home):
    import threading

    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    started, release = threading.Event(), threading.Event()

    def slow_progress(done, total, name):
        started.set()
        release.wait(10)

    outcome = {}

    def first():
        outcome["first"] = fetch("tester/tiny-qa", progress=slow_progress)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(10)
        with pytest.raises(DownloadError, match="already being downloaded"):
            fetch("tester/tiny-qa")
    finally:
        release.set()
        thread.join(20)
    assert outcome["first"].path.is_dir()
    assert [m.id for m in store.list_installed()] == ["tester/tiny-qa"]
    assert (outcome["first"].path / "spiece.model").read_bytes() == repo.files["spiece.model"]


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "spiece.model"])
def test_corrupt_file_caught_by_its_hash(hub, checkpoints, home, name):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.corrupt.add(name)
    with pytest.raises(DownloadError, match=f"{name} of tester/tiny-qa is corrupt"):
        fetch("tester/tiny-qa")
    assert_nothing_installed(home)
    assert not any(p.name == name + ".part" for p in parts(home))
    hub.corrupt.clear()
    assert fetch("tester/tiny-qa").revision  # a second try starts that file over and succeeds


# --- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, code, message", [
    (500, None, r"server error \(HTTP 500\)"),
    (503, None, r"server error \(HTTP 503\)"),
    (401, "RepoNotFound", "was not found on 127.0.0.1"),
    (401, "GatedRepo", "gated model"),
    (403, None, r"refused access .* \(HTTP 403\)"),
])
def test_api_errors(hub, checkpoints, home, status, code, message):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.api_status, hub.api_error_code = status, code
    with pytest.raises(DownloadError, match=message):
        fetch("tester/tiny-qa", retries=1)
    assert_nothing_installed(home)


def test_unknown_repo(hub, home):
    with pytest.raises(DownloadError, match="tester/nothing-here was not found"):
        fetch("tester/nothing-here")
    assert_nothing_installed(home)


@pytest.mark.parametrize("status, message", [
    (500, r"server error \(HTTP 500\)"),
    (404, r"missing .*HTTP 404"),
])
@pytest.mark.usefixtures("client")
def test_file_errors(hub, checkpoints, home, status, message):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.file_status["model.safetensors"] = status
    with pytest.raises(DownloadError, match=message):
        fetch("tester/tiny-qa", retries=1)
    assert_nothing_installed(home)


def test_invalid_repo_id(online):
    with pytest.raises(DownloadError, match="not a Hub model id"):
        fetch("not a / valid id")


def test_connection_refused(online, monkeypatch, home):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match=rf"Cannot reach 127.0.0.1:{port} \(the Hub address "
                                            r"set by HF_ENDPOINT.*check your connection"):
        fetch("tester/tiny-qa", retries=1)
    assert_nothing_installed(home)


def test_unreachable_proxy(online, monkeypatch, home):
    with socket.socket() as sock:  # a proxy that is not there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    # Only the proxy is contacted; were it bypassed, the address is still this machine.
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.2:{port}")
    with pytest.raises(DownloadError, match=rf"Cannot reach 127.0.0.2:{port} through the proxy"):
        fetch("tester/tiny-qa", retries=0)
    assert_nothing_installed(home)


@pytest.mark.parametrize(("no_proxy", "direct"), [
    ("mirror.internal:8443", True), ("mirror.internal:9999", False), ("mirror.internal", True),
    (".internal", True), ("https://mirror.internal", True), ("http://mirror.internal", False),
    ("*", True), ("other.org, mirror.internal", True), ("", False),
])
def test_no_proxy_forms_that_send_the_hub_direct(monkeypatch, no_proxy, direct):
    from engine.models.download import _env_proxy

    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    # A proxy named where the Hub is reached direct would turn a failed direct connection
    # into "through the proxy", which sends the person to the wrong settings.
    assert (_env_proxy("https://mirror.internal:8443") is None) == direct


def test_no_proxy_ip_networks(monkeypatch):
    from engine.models.download import _env_proxy

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "192.168.0.0/16,10.0.0.0/8")
    assert _env_proxy("http://10.1.2.3:8080") is None
    monkeypatch.setenv("NO_PROXY", "192.168.0.0/16")
    assert _env_proxy("http://10.1.2.3:8080") == "http://proxy.example:3128"


def test_offline_mode(home):
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # as the test session sets it
    with pytest.raises(DownloadError, match="offline mode is on.*Unset HF_HUB_OFFLINE"):
        fetch("twmkn9/albert-base-v2-squad2")
    assert_nothing_installed(home)


def test_full_disk_is_checked_before_starting(hub, checkpoints, monkeypatch, home):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    usage = shutil.disk_usage(Path.cwd())
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: type(usage)(usage.total, usage.total - 1000, 1000))
    with pytest.raises(DownloadError, match=r"Not enough disk space in .*needs about 33\d(\.\d)? KB, "
                                            r"1000 bytes free"):
        fetch("tester/tiny-qa")
    assert [r for r in hub.requests if "/resolve/" in r.path] == []
    assert_nothing_installed(home)


def test_disk_filling_up_while_writing(hub, checkpoints, monkeypatch, home):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    real = dl._write_chunk
    written = {"n": 0}

    def write(fh, data):
        written["n"] += 1
        if written["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, data)

    monkeypatch.setattr(dl, "_write_chunk", write)
    with pytest.raises(DownloadError, match="Not enough disk space in"):
        fetch("tester/tiny-qa")
    assert_nothing_installed(home)


# --- checkpoints we refuse ----------------------------------------------------------------------
def test_remote_code_refused_before_the_weights(hub, checkpoints, tmp_path, home):
    folder = copy_checkpoint(checkpoints("qa"), tmp_path / "custom")
    edit_config(folder, auto_map={"AutoModel": "modeling_custom.CustomModel"})
    hub.add_repo("tester/custom-code", folder)
    with pytest.raises(UnsafeModelFileError, match="auto_map"):
        fetch("tester/custom-code")
    assert hub.file_requests("model.safetensors") == []
    assert_nothing_installed(home)
    assert parts(home) == []


def test_wrong_head_refused_before_the_weights(hub, checkpoints, home):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    with pytest.raises(UnsupportedModelError, match="token-classification head"):
        fetch("tester/tiny-qa", task="ner")
    assert hub.file_requests("model.safetensors") == []
    assert_nothing_installed(home)


def test_pickle_with_foreign_global_refused(hub, checkpoints, tmp_path, home):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file

    folder = copy_checkpoint(checkpoints("token"), tmp_path / "evil")
    tensors = {k: torch.from_numpy(v) for k, v in load_file(folder / "model.safetensors").items()}
    (folder / "model.safetensors").unlink()
    torch.save({**tensors, "payload": os.getcwd}, folder / "pytorch_model.bin")
    hub.add_repo("tester/evil", folder)
    with pytest.raises(UnsafeModelFileError):
        fetch("tester/evil")
    assert_nothing_installed(home)
    leftovers = list(store.downloads_dir().iterdir()) if store.downloads_dir().exists() else []
    assert [p.name for p in leftovers if p.suffix != ".lock"] == []  # empty lock files may stay


def test_repo_without_tokenizer_refused(hub, checkpoints, home):
    files = {p.name: p.read_bytes() for p in checkpoints("qa").iterdir() if p.name != "spiece.model"}
    hub.add_repo("tester/no-spiece", files)
    with pytest.raises(UnsupportedModelError, match="tester/no-spiece: .*no spiece.model"):
        fetch("tester/no-spiece")
    assert hub.file_requests("config.json") == []
    assert_nothing_installed(home)


# --- the fake hub is a faithful one -------------------------------------------------------------
def test_huggingface_hub_itself_downloads_from_the_fake_hub(hub, checkpoints, tmp_path):
    from huggingface_hub import HfApi, hf_hub_download

    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    for name in ("config.json", "model.safetensors"):
        path = hf_hub_download("tester/tiny-qa", name, cache_dir=tmp_path / "hf", endpoint=hub.url)
        assert Path(path).read_bytes() == repo.files[name]
        assert repo.commit in str(path)
    info = HfApi(endpoint=hub.url).model_info("tester/tiny-qa", files_metadata=True)
    assert info.sha == repo.commit
    lfs = {s.rfilename: s.lfs.sha256 for s in info.siblings if s.lfs}
    assert lfs["model.safetensors"] == hashlib.sha256(repo.files["model.safetensors"]).hexdigest()


# --- the command line ---------------------------------------------------------------------------
def test_cli_download_shows_progress_and_installs(hub, checkpoints, capsys):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    code, out, err = models_cli(["models", "download", "tester/tiny-qa", "--no-convert"], capsys)
    assert code == 0, err
    assert out.startswith("Installed tester/tiny-qa (question-answering, ")
    assert repo.commit[:12] in out
    assert "100%" in err and "Downloading" in err
    code, out, _ = models_cli(["models", "list"], capsys)
    assert code == 0 and "tester/tiny-qa" in out and repo.commit[:12] in out


def test_cli_download_failure_is_one_line(hub, capsys, home):
    code, out, err = models_cli(["models", "download", "tester/missing"], capsys)
    assert code == 1 and out == ""
    last = err.splitlines()[-1]  # after the progress/stage lines, one line says why
    assert last.startswith("albert-lens: error: tester/missing was not found")
    assert [line for line in err.splitlines() if "error" in line] == [last]
    assert_nothing_installed(home)
