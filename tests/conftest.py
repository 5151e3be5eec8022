import os
import warnings
import zlib

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

from tests import checkpoint_factory as factory

# The app tests' shared fixtures (home, window) live with their fakes.
pytest_plugins = ("tests.app_support",)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the developer's real model store or cache.

    The home is shared by the whole session (its graph cache saves conversions), so a test that
    installs a model must give itself a home of its own: one left in the shared store would
    change what later tests see, and fails the test that left it.
    """
    home = tmp_path_factory.getbasetemp() / "albert-lens-home"
    monkeypatch.setenv("ALBERT_LENS_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield
    models = home / "data" / "models"
    left = sorted(p.name for p in models.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if models.is_dir() else []
    assert left == [], f"this test installed {left} in the session's shared store"


@pytest.fixture(scope="session")
def spiece_path(tmp_path_factory) -> Path:
    return factory.train_spiece(tmp_path_factory.mktemp("spm") / "spiece.model")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, spiece_path):
    """Lazily built tiny checkpoints: checkpoints("qa", "grouped") -> folder."""
    root = tmp_path_factory.mktemp("ckpt")
    made: dict[tuple, Path] = {}

    def get(head: str = "encoder", shape: str = "plain", safe: bool = True) -> Path:
        key = (head, shape, safe)
        if key not in made:
            name = f"{head}-{shape}-{'st' if safe else 'bin'}"
            made[key] = factory.build_checkpoint(
                root / name, spiece_path, head=head, shape=shape,
                seed=zlib.crc32(f"{head}-{shape}".encode()) % 1000, safe_serialization=safe,
            )
        return made[key]

    return get


@pytest.fixture(scope="session")
def hf_pipeline():
    """transformers' own pipeline for a task on a checkpoint folder, built once: the reference.

    hf_pipeline("question-answering", folder) uses the fast tokenizer (the pipelines need its
    offsets); slow_tokenizer=True takes AlbertTokenizer; other keywords go to transformers.pipeline.
    """
    made: dict[tuple, object] = {}

    def get(task: str, folder: Path, *, slow_tokenizer: bool = False, **options):
        key = (task, folder, slow_tokenizer, tuple(sorted(options.items(), key=str)))
        if key not in made:
            import transformers

            tokenizer_class = (transformers.AlbertTokenizer if slow_tokenizer
                               else transformers.AlbertTokenizerFast)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                made[key] = transformers.pipeline(
                    task, model=factory.hf_model(folder),
                    tokenizer=tokenizer_class.from_pretrained(folder), device="cpu", **options)
        return made[key]

    return get


@pytest.fixture(scope="module")
def engine_pipeline(checkpoints):
    """Our pipeline for a task on a tiny checkpoint, built once per module and options:
    engine_pipeline("ner", "token", "grouped", aggregation_strategy="first")."""
    made: dict[tuple, object] = {}

    def get(task: str, head: str, shape: str = "plain", **options):
        key = (task, head, shape, tuple(sorted(options.items())))
        if key not in made:
            import engine

            # As transformers (the reference) reads text: look-alike letters as written.
            made[key] = engine.pipeline(task, model=checkpoints(head, shape), device="cpu",
                                        **{"fold_lookalikes": False, **options})
        return made[key]

    return get


def pytest_collection_modifyitems(config, items):
    # A duration measured on a shared 2-core machine can be stretched by whatever else runs:
    # such tests get two more tries, and a test that blocks fails all three.
    for item in items:
        if item.get_closest_marker("timing") is not None:
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=1))
