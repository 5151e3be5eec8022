"""Downloads from a Hub that lies or stalls (issue 13), and the offline first run (issue 12).

Every hostile answer comes from tests/fake_hub.py on 127.0.0.1: a body longer than the Hub's
listing, a commit or file names that try to leave the store, sizes and hashes that make no sense,
a body that trickles in one byte at a time. After each, the error is one line, nothing is
installed and nothing is written outside the store.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from pathlib import Path

import pytest

from engine.errors import DownloadCancelled, DownloadError, ModelNotFoundError
from engine.models import download as dl
from engine.models import store
from tests import test_models_download as base
from tests.test_models_download import assert_nothing_installed, fetch, models_cli, parts

# The same store, loopback hub, online switch and HTTP clients as the plain download tests.
home, online, hub, client = base.home, base.online, base.hub, base.client

pytestmark = pytest.mark.timeout(60)


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text
    return text


def file_requests(hub) -> list[str]:
    return [r.path for r in hub.requests if "/resolve/" in r.path or r.path.startswith("/cdn/")]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def track_writes(monkeypatch):
    """The largest size each .part file reached, by file name (through download's one writer)."""
    biggest: dict[str, int] = {}
    real = dl._write_chunk

    def write(fh, data):
        real(fh, data)
        name = Path(fh.name).name
        biggest[name] = max(biggest.get(name, 0), fh.tell())

    monkeypatch.setattr(dl, "_write_chunk", write)
    return biggest


# --- 1. a body longer than the Hub says ---------------------------------------------------------
@pytest.mark.parametrize("hide_length", [False, True], ids=["content-length", "until-close"])
@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
@pytest.mark.usefixtures("client")
def test_a_body_longer_than_listed_stops_at_the_listed_size(hub, checkpoints, home, track_writes,
                                                            name, hide_length):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    listed = len(repo.files[name])
    hub.overrun[name] = 8 << 20
    if hide_length:
        hub.hide_length.add(name)

    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa", retries=0)

    text = one_line(info.value)
    assert f"more than the {listed} bytes" in text and name in text and "tester/tiny-qa" in text
    assert track_writes.get(name + ".part", 0) <= listed  # never a byte past the listing
    assert not any(p.name == name + ".part" for p in parts(home))  # the overrun file is gone
    assert_nothing_installed(home)
    hub.overrun.clear()
    hub.hide_length.clear()
    model = fetch("tester/tiny-qa", retries=0)
    assert (model.path / name).read_bytes() == repo.files[name]


def test_a_disk_that_holds_only_the_listed_bytes_is_not_reported_full(hub, checkpoints, home,
                                                                      monkeypatch):
    """The issue's report: the endless body filled the disk, then 'needs about 346 kB'."""
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    listed = {n: len(d) for n, d in repo.files.items()}
    hub.overrun["model.safetensors"] = 8 << 20
    hub.hide_length.add("model.safetensors")
    real = dl._write_chunk

    def write(fh, data):
        if fh.tell() + len(data) > listed[Path(fh.name).name.removesuffix(".part")]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, data)

    monkeypatch.setattr(dl, "_write_chunk", write)
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa", retries=0)
    text = one_line(info.value)
    assert "disk space" not in text and "more than the" in text
    assert not any(p.name == "model.safetensors.part" for p in parts(home))
    assert_nothing_installed(home)


# --- 2. ids, commits and file names from the Hub ------------------------------------------------
@pytest.mark.parametrize("commit", [
    "/../../../..", "../../../../../../tmp/x", "main", "0123abc", "g" * 40, "a" * 39 + "/",
    "a" * 41,
])
def test_a_commit_that_is_not_a_sha_is_refused(hub, checkpoints, home, tmp_path, commit):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"), commit=commit)
    before = files_under(tmp_path)
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa")
    text = one_line(info.value)
    assert "tester/tiny-qa" in text and "commit" in text
    assert file_requests(hub) == []
    created = files_under(tmp_path) - before
    assert all(p.suffix == ".lock" for p in created), created
    assert_nothing_installed(home)


def test_the_issue_traversal_does_not_adopt_a_file_outside_the_store(hub, checkpoints, home):
    """'/../../../..' as the commit put staging at ALBERT_LENS_HOME: a same-size file there won."""
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"), commit="/../../../..")
    planted = home / "special_tokens_map.json"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(b"x" * len(repo.files["special_tokens_map.json"]))
    with pytest.raises(DownloadError, match="commit"):
        fetch("tester/tiny-qa")
    assert planted.read_bytes() == b"x" * len(repo.files["special_tokens_map.json"])
    assert not (home / "config.json").exists()
    assert_nothing_installed(home)


@pytest.mark.parametrize("name", ["special_tokens_map.json", "spiece.model", "config.json"])
def test_a_file_already_in_staging_is_checked_before_it_is_kept(hub, checkpoints, home, name):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    staging = store.downloads_dir() / f"{store.safe_name(repo.repo_id)}@{repo.commit[:12]}"
    staging.mkdir(parents=True)
    good = repo.files[name]
    (staging / name).write_bytes(bytes(b ^ 0x01 for b in good))  # same size, other bytes
    model = fetch("tester/tiny-qa")
    assert (model.path / name).read_bytes() == good
    assert len(hub.file_requests(name)) == 1


def test_a_file_already_in_staging_that_checks_out_is_not_fetched_again(hub, checkpoints, home):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    staging = store.downloads_dir() / f"{store.safe_name(repo.repo_id)}@{repo.commit[:12]}"
    staging.mkdir(parents=True)
    (staging / "spiece.model").write_bytes(repo.files["spiece.model"])
    model = fetch("tester/tiny-qa")
    assert hub.file_requests("spiece.model") == []
    assert (model.path / "spiece.model").read_bytes() == repo.files["spiece.model"]


ODD_NAMES = ["../../../evil.json", "/etc/evil.json", "..\\evil.json", "C:/evil.json",
             "1_Pooling/config.json\n", "\u0661_Pooling/config.json", "2_Pooling/../../x.json",
             "./1_Pooling/config.json", 5, None, ["config.json"]]


def test_odd_file_names_from_the_hub_are_never_used(hub, checkpoints, home, tmp_path):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    repo.extra_siblings = [{"rfilename": n, "size": 10, "blobId": "0" * 40} for n in ODD_NAMES]
    before = files_under(tmp_path)
    model = fetch("tester/tiny-qa")
    assert set(model.files) == set(repo.files)
    asked = file_requests(hub)
    assert not any("evil" in p or "Pooling" in p or "/x.json" in p for p in asked), asked
    created = files_under(tmp_path) - before
    assert all(p.is_relative_to(store.store_dir()) for p in created), created


def test_a_needed_file_listed_twice_is_refused(hub, checkpoints, home):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    repo.extra_siblings = [{"rfilename": "config.json", "size": 7, "blobId": "1" * 40}]
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa")
    assert "config.json" in one_line(info.value) and "twice" in str(info.value)
    assert file_requests(hub) == []
    assert_nothing_installed(home)


def test_a_shard_index_naming_a_path_outside_is_refused(hub, checkpoints, home, tmp_path):
    from engine.errors import UnsafeModelFileError

    files = {p.name: p.read_bytes() for p in checkpoints("qa").iterdir()}
    del files["model.safetensors"]
    files["model.safetensors.index.json"] = (
        b'{"metadata": {}, "weight_map": {"a": "../../../../evil.safetensors"}}')
    hub.add_repo("tester/sharded", files)
    with pytest.raises(UnsafeModelFileError, match="odd shard file"):
        fetch("tester/sharded")
    assert not any("evil" in p for p in file_requests(hub))
    assert not list(tmp_path.rglob("evil*"))


@pytest.mark.parametrize("repo_id", ["tester/../../x", "../tester", "tester", "a/b/c",
                                     "tester/tiny qa", "tester/.hidden", "tester/x\\y",
                                     "-tester/x", "tester/" + "x" * 200, "t\u00e9ster/x"])
def test_odd_repo_ids_are_refused_before_any_request(hub, home, repo_id):
    with pytest.raises(DownloadError) as info:
        fetch(repo_id)
    assert "not a Hub model id" in one_line(info.value)
    assert hub.requests == []


def test_a_hub_spelling_of_the_id_that_is_odd_is_not_taken(hub, checkpoints, home):
    repo = hub.add_repo("tester/tiny-kqa", checkpoints("qa"))
    repo.info_patch = {"id": "tester/tiny-\u212aqa"}  # KELVIN SIGN: its lower() is 'k'
    model = fetch("tester/tiny-kqa")
    assert model.id == "tester/tiny-kqa"


# --- 4. sizes and hashes that make no sense -----------------------------------------------------
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
@pytest.mark.parametrize("size", [-1, "143", 1.5, True, None, 10**15, 2**70, "NaN"])
def test_a_size_that_makes_no_sense_is_one_line(hub, checkpoints, home, name, size):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    repo.sibling_patch[name] = {"size": size}
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa")
    text = one_line(info.value)
    assert name in text and "tester/tiny-qa" in text and "size" in text
    assert file_requests(hub) == []
    assert_nothing_installed(home)


@pytest.mark.parametrize("patch", [
    {"lfs": {"sha256": "zz", "size": 1, "pointerSize": 134}},
    {"lfs": {"sha256": "0" * 64, "size": -5, "pointerSize": 134}},
    {"lfs": {"sha256": "0" * 64, "size": 12, "pointerSize": 134}},  # not the file's size
    {"lfs": None, "blobId": None},
    {"lfs": None, "blobId": "not-a-sha"},
])
def test_a_file_that_cannot_be_verified_is_not_downloaded(hub, checkpoints, home, patch):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    repo.sibling_patch["model.safetensors"] = patch
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa")
    assert "model.safetensors" in one_line(info.value)
    assert hub.file_requests("model.safetensors") == []
    assert_nothing_installed(home)


# --- 3. a body that trickles in -----------------------------------------------------------------
@pytest.mark.usefixtures("client")
def test_cancel_is_honoured_while_a_byte_trickles_in(hub, checkpoints, home):
    repo = hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.trickle["spiece.model"] = 1.0
    asked = {}

    def cancel():
        # Once the trickle has gone on for a second, the reader is deep in a blocked read.
        if hub.trickling.is_set():
            asked.setdefault("first_seen", time.monotonic())
            if time.monotonic() - asked["first_seen"] > 1.0:
                asked.setdefault("cancelled_at", time.monotonic())
                return True
        return False

    with pytest.raises(DownloadCancelled):
        fetch("tester/tiny-qa", timeout=30, cancel=cancel)
    # A behaviour bound (control comes back), not a benchmark: generous on a busy machine.
    assert time.monotonic() - asked["cancelled_at"] < 10
    assert_nothing_installed(home)
    hub.trickle.clear()
    model = fetch("tester/tiny-qa")
    assert (model.path / "spiece.model").read_bytes() == repo.files["spiece.model"]


def test_cancel_is_honoured_while_waiting_for_the_answer(hub, checkpoints, home, monkeypatch):
    """No answer at all: the request itself blocks (a server that accepts and says nothing)."""
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.monotonic()
        with pytest.raises(DownloadCancelled):
            fetch("tester/tiny-qa", timeout=30, cancel=lambda: time.monotonic() - start > 1.0)
        assert time.monotonic() - start < 10
    assert_nothing_installed(home)


def test_a_download_slower_than_its_deadline_names_the_file(hub, checkpoints, home):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.trickle["spiece.model"] = 0.2
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa", timeout=30, deadline_floor=2.0, min_speed=10**9)
    text = one_line(info.value)
    assert "spiece.model" in text and "tester/tiny-qa" in text and "too slow" in text
    assert not isinstance(info.value, DownloadCancelled)
    assert_nothing_installed(home)


def test_the_deadline_grows_with_the_file():
    assert dl.file_deadline(0, floor=120, min_speed=50_000) == 120
    assert dl.file_deadline(500_000_000, floor=120, min_speed=50_000) == 10_000


@pytest.mark.usefixtures("client")
def test_a_stalled_body_times_out_on_the_read_timeout(hub, checkpoints, home):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.trickle["spiece.model"] = 3600  # one byte, then silence
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa", timeout=1, retries=0)
    text = one_line(info.value)
    assert "spiece.model" in text and "Run it again to resume" in text
    assert_nothing_installed(home)


@pytest.mark.usefixtures("client")
def test_no_reader_thread_is_left_behind(hub, checkpoints, home):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.trickle["spiece.model"] = 1.0
    with pytest.raises(DownloadCancelled):
        fetch("tester/tiny-qa", cancel=lambda: hub.trickling.is_set())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            t.name.startswith("albert-lens-download") for t in threading.enumerate()):
        time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name.startswith("albert-lens-download")]


@pytest.mark.usefixtures("client")
def test_an_endless_error_page_is_read_only_up_to_its_budget(hub, checkpoints, home):
    from tests.fake_hub import ENDLESS_BYTES

    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    hub.endless_error["spiece.model"] = 500
    with pytest.raises(DownloadError, match=r"server error \(HTTP 500\)") as info:
        fetch("tester/tiny-qa", retries=0)
    one_line(info.value)
    # What was read of it is ERROR_BODY_BYTES; the rest sent is what the socket buffers took
    # before the connection was shut. Read whole, it would be all ENDLESS_BYTES.
    assert hub.error_bytes_sent < ENDLESS_BYTES // 8
    assert_nothing_installed(home)


# --- 5. offline first run: say how to import a folder -------------------------------------------
def test_cannot_reach_the_hub_says_how_to_import_a_folder(online, monkeypatch, home, capsys):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError) as info:
        fetch("tester/tiny-qa", retries=0)
    text = one_line(info.value)
    assert text.startswith(f"Cannot reach 127.0.0.1:{port}") and "Run it again" in text
    assert "albert-lens models import DIR --task" in text
    assert "Import folder…" not in text  # the app's words are the app's to add
    code, _out, err = models_cli(["models", "download", "tester/tiny-qa"], capsys)
    assert code == 1
    assert "albert-lens models import DIR --task" in err.splitlines()[-1]


def test_offline_mode_says_how_to_import_a_folder(home):
    with pytest.raises(DownloadError) as info:
        fetch("twmkn9/albert-base-v2-squad2")
    text = one_line(info.value)
    assert "offline mode is on" in text
    assert "albert-lens models import DIR --task qa." in text  # the catalog's task for the id


def test_no_model_installed_says_how_to_import_a_folder(home):
    with pytest.raises(ModelNotFoundError) as info:
        store.default_model_dir("ner")
    text = one_line(info.value)
    assert "albert-lens models download ArBert/albert-base-v2-finetuned-ner" in text
    assert "albert-lens models import DIR --task ner" in text and "Import folder…" not in text


def test_readme_setup_says_how_to_import_a_folder():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    setup = readme.split("\n## ", 1)[0]  # the part above the first section
    assert "albert-lens models import DIR --task" in setup and "Import folder…" in setup


def test_a_download_whose_graph_cannot_be_built_is_not_installed(hub, checkpoints, home,
                                                                 monkeypatch):
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    import engine.runtime.onnx_backend as backend

    real = backend.converted_graph

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backend, "converted_graph", disk_full)
    with pytest.raises(Exception) as info:
        fetch("tester/tiny-qa", convert=True)
    assert "\n" not in str(info.value) and "space" in str(info.value).lower()
    assert_nothing_installed(home)
    # The files wait in staging: the next call installs without fetching them again.
    fetched = len([r for r in hub.requests if "/resolve/" in r.path])
    monkeypatch.setattr(backend, "converted_graph", real)
    model = fetch("tester/tiny-qa", convert=True)
    assert store.installed_model_dir("tester/tiny-qa") == model.path
    assert len([r for r in hub.requests if "/resolve/" in r.path]) == fetched
