"""kill -9 in the middle of the Library's model stages (embeddings, entities), then update
again: the same index as an uninterrupted run, nothing lost, nothing twice."""

from __future__ import annotations

import pytest

import engine
from engine.library import indexer
from tests.library_support import (
    assert_same_index,
    dump_all,
    install_models,
    make_corpus,
    run_python,
)

pytestmark = pytest.mark.timeout(300)

# One document per model call: the kill can fall between documents of one stage, and the
# uninterrupted run embeds the same batches as the resumed one.
GROUP = 1

_CHILD = """
import os, signal
import engine
from engine.library import indexer
indexer.EMBED_GROUP = {group}
calls = []
def after_call():
    calls.append(1)
    if len(calls) == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)  # the model's rows computed, not yet stored
if {stage!r} == "embeddings":
    from engine.tasks.embeddings import SentenceEncoder
    real_encode = SentenceEncoder.encode
    def encode(self, texts, *args, **kw):
        vectors = real_encode(self, texts, *args, **kw)
        after_call()
        return vectors
    SentenceEncoder.encode = encode
else:
    import engine.tasks
    real_pipeline = engine.tasks.pipeline
    def pipeline(task, *args, **kw):
        ner = real_pipeline(task, *args, **kw)
        if task != "ner":
            return ner
        def run(text, **options):
            found = ner(text, **options)
            after_call()
            return found
        return run
    engine.tasks.pipeline = pipeline
with engine.open_library({db!r}, device="cpu") as lib:
    lib.add_folder({root!r})
    lib.update()
print("not killed")
"""


@pytest.fixture(scope="module")
def models_home(tmp_path_factory, checkpoints):
    return install_models(tmp_path_factory.mktemp("kill-home"), checkpoints)


@pytest.fixture(autouse=True)
def home(models_home, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(models_home))
    monkeypatch.setattr(indexer, "EMBED_GROUP", GROUP)
    return models_home


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = make_corpus(tmp_path_factory.mktemp("corpus"), office=False)
    for i, (who, where) in enumerate((("Ada Brook", "Oslo"), ("John Smith", "Perth"),
                                      ("Marie Curie", "Paris"))):
        (root / f"people{i}.txt").write_text(
            f"{who} travelled to {where} in the spring.\n\n"
            + " ".join([f"{who} met the committee of {where} again."] * 30) + "\n",
            encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def reference(models_home, corpus, tmp_path_factory):
    """The uninterrupted run's index."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALBERT_LENS_HOME", str(models_home))
        mp.setattr(indexer, "EMBED_GROUP", GROUP)
        db = tmp_path_factory.mktemp("reference") / "reference.sqlite3"
        with engine.open_library(db, device="cpu") as lib:
            lib.add_folder(corpus)
            report = lib.update()
            assert report.skipped == {} and report.embedded == report.entities == 7
            found = dump_all(lib)
    assert found["embedding_rows"] == len(found["passages"])
    assert found["entities"], "the tiny NER model finds something in this corpus"
    return found


def _kill(db, root, home, stage, kill_at):
    code, out, err = run_python(_CHILD.format(db=str(db), root=str(root), group=GROUP,
                                              stage=stage, kill_at=kill_at), home,
                                timeout=240)
    assert code == -9, (out, err)


def _done(lib) -> dict[str, int]:
    return lib.status().indexed


@pytest.mark.parametrize("stage", ["embeddings", "entities"])
def test_kill_9_in_a_model_stage_then_update_gives_the_uninterrupted_index(
        stage, tmp_path, corpus, home, reference):
    db = tmp_path / "lib.sqlite3"
    _kill(db, corpus, home, stage, kill_at=3)
    with engine.open_library(db, device="cpu") as lib:
        assert lib.store.integrity_check() == "ok"
        # Stage 1 was complete; of the killed stage, the two documents stored before the kill.
        if stage == "embeddings":
            assert _done(lib) == {"passages": 7, "embeddings": 2, "entities": 0}
        else:
            assert _done(lib) == {"passages": 7, "embeddings": 7, "entities": 2}
        report = lib.update()
        assert not report.cancelled and report.unchanged == 9 and report.new == 0
        assert report.embedded == (5 if stage == "embeddings" else 0)
        assert report.entities == (7 if stage == "embeddings" else 5)
        assert _done(lib) == {"passages": 7, "embeddings": 7, "entities": 7}
        assert_same_index(dump_all(lib), reference)


def test_kills_in_both_stages_one_after_the_other_then_update(tmp_path, corpus, home,
                                                                reference):
    db = tmp_path / "lib.sqlite3"
    _kill(db, corpus, home, "embeddings", kill_at=2)
    _kill(db, corpus, home, "entities", kill_at=4)  # first the embeddings left to do
    with engine.open_library(db, device="cpu") as lib:
        assert _done(lib) == {"passages": 7, "embeddings": 7, "entities": 3}
        report = lib.update()
        assert (report.embedded, report.entities) == (0, 4)
        assert_same_index(dump_all(lib), reference)
        assert lib.update().entities == 0  # nothing left over
        assert_same_index(dump_all(lib), reference)
