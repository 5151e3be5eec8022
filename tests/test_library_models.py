"""The Library's model stages: embeddings and fused ranking, questions across documents,
the entity index, and a model change that keeps the old results until the new ones are in."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
from engine.errors import ModelNotFoundError
from engine.library.indexer import entity_key, model_key
from engine.library.search import _best, rrf
from engine.models import store
from engine.models.importer import import_model
from engine.tasks.embeddings import SentenceEncoder
from tests.library_support import install_models, make_corpus

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def models_home(tmp_path_factory, checkpoints):
    """One home per module with an embeddings, a NER and a QA model installed (graphs cached
    once for every test here)."""
    return install_models(tmp_path_factory.mktemp("library-home"), checkpoints,
                          ("embeddings", "ner", "qa"))


@pytest.fixture(autouse=True)
def home(models_home, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(models_home))
    yield models_home
    for task, model_id in (("summarization", "local/emb"), ("ner", "local/ner")):
        if store.get_installed(model_id) is not None:
            store.set_default_model(task, model_id)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), office=False)


@pytest.fixture
def lib(tmp_path, corpus):
    with engine.open_library(tmp_path / "lib.sqlite3", device="cpu") as library:
        library.add_folder(corpus)
        yield library


def test_rrf_is_the_sum_of_reciprocal_ranks():
    fused = dict(rrf([[10, 20, 30], [30, 10]], k=60))
    assert fused == pytest.approx({10: 1 / 61 + 1 / 62, 20: 1 / 62, 30: 1 / 63 + 1 / 61})
    assert [i for i, _ in rrf([[10, 20, 30], [30, 10]])] == [10, 30, 20]


@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, -1.0, float("nan")]) | st.floats(-1, 1),
                max_size=60),
       st.integers(1, 70))
def test_best_cosines_are_a_stable_sorts_first(values, limit):
    scores = np.asarray(values, dtype=np.float32)
    # NaN last, as a stable sort of the scores with NaN as the lowest value orders them.
    ranked = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:limit]
    assert _best(scores, limit).tolist() == ranked.tolist()


def test_embeddings_are_the_encoders_vectors_of_the_folded_passages(lib):
    report = lib.update()
    assert report.failed == 2, lib.status()
    assert report.skipped == {} and report.embedded == 4 and report.entities == 4
    status = lib.status()
    assert status.indexed == {"passages": 4, "embeddings": 4, "entities": 4}
    key = model_key(store.get_installed("local/emb"))
    assert status.models["embeddings"] == key
    ids, matrix = lib.store.embeddings(key)
    assert len(ids) == status.passages == status.embeddings
    folded = lib.store.folded_of([int(i) for i in ids])
    encoder = SentenceEncoder("local/emb", device="cpu")
    expected = encoder.encode([folded[int(i)] for i in ids])
    np.testing.assert_allclose(matrix, expected, atol=1e-5)
    assert lib.update().embedded == 0  # nothing left to do


def test_meaning_search_finds_what_keywords_cannot(lib):
    lib.update()
    assert lib.search("xyzzyq") != []  # no keyword matches: the embeddings still rank
    passage = lib.store.passages_of(lib.store.document_by_path(
        str(lib.folders()[0] + "/notes/alpha.txt")).id)[0]
    hit = lib.search(passage.text, k=3)[0]  # the passage itself is first in both rankings
    assert (hit.start, hit.end, hit.text) == (passage.start, passage.end, passage.text)
    # The fused score of the top hit is rank 1 in both lists.
    assert hit.score == pytest.approx(2 / 61)


def test_keyword_only_until_something_is_embedded(tmp_path, corpus, checkpoints):
    store.remove("local/emb")
    try:
        with engine.open_library(tmp_path / "k.sqlite3", device="cpu") as lib:
            lib.add_folder(corpus)
            report = lib.update()
            assert "No summarization" in report.skipped["embeddings"]
            assert lib.search("xyzzyq") == []
            assert lib.search("capybara")[0].score == pytest.approx(1 / 61)
    finally:
        import_model(checkpoints("encoder"), "embeddings", model_id="local/emb", convert=False)


def test_ask_cites_spans_that_index_the_document(lib):
    lib.update()
    question = "How many animals did the capybara census count?"
    answers = lib.ask(question, top_k=3)
    assert 1 <= len(answers) <= 3
    candidates = {h.path for h in lib.search(question, k=4)}
    for a in answers:
        assert not a.no_answer
        assert a.path in candidates
        document = engine.load_document(a.path)
        assert a.text == document.text[a.start:a.end] and a.text.strip() == a.text
        assert a.context_start <= a.start < a.end <= a.context_end
        assert a.page == (document.page_of(a.start) if document.pages else None)
        # The context is the answer's sentence(s), within one passage of the document.
        passages = lib.store.passages_of(lib.store.document_by_path(a.path).id)
        assert any(p.start <= a.context_start and a.context_end <= p.end for p in passages)
    assert answers == sorted(answers, key=lambda a: -a.score)
    with pytest.raises(ValueError, match="empty"):
        lib.ask("  ")


def test_entities_are_grouped_by_normalised_text_and_type(lib):
    lib.update()
    ner = engine.pipeline("ner", model="local/ner", device="cpu")
    expected: dict[tuple[str, str], set] = {}
    mentions: dict[tuple[str, str], int] = {}
    for doc in lib.documents():
        if doc.status != "indexed":
            continue
        # The library reads each document whole, as the document view does.
        for e in ner(engine.load_document(doc.path)):
            # The engine's own key when its Entity carries one (folded in context), else ours.
            key = getattr(e, "key", "") or " ".join(
                engine.fold_lookalikes(e.text).text.casefold().split())
            group = (key, e.type)
            expected.setdefault(group, set()).add(doc.path)
            mentions[group] = mentions.get(group, 0) + 1
    found = lib.entities()
    assert found, "the tiny NER model finds something in this corpus"
    assert {(e.key, e.type): e.documents for e in found} == \
        {g: len(paths) for g, paths in expected.items()}
    assert {(e.key, e.type): e.mentions for e in found} == mentions
    rows = lib.store._db.execute(
        'SELECT d.path, e.start, e."end", e.text FROM entities e JOIN documents d '
        "ON d.id = e.document_id").fetchall()
    for path, start, end, text in rows:
        assert engine.load_document(path).text[start:end] == text
    top = found[0]
    assert {d.path for d in lib.documents(entity=top)} == expected[(top.key, top.type)]
    assert all(d.mentions > 0 for d in lib.documents(entity=top))
    only = lib.entities(label=top.type)
    assert only and all(e.type == top.type for e in only)
    assert [e.key for e in lib.entities(query=top.key.upper())][:1] == [top.key]
    for a, b in ((found[0], found[-1]), (found[0], found[0])):
        for hit in lib.cooccurrences(a, b):
            keys = {(k, t) for k, t, *_ in lib.store.entities_in(
                next(p.id for p in lib.store.passages_of(
                    lib.store.document_by_path(hit.path).id) if p.start == hit.start))}
            assert (a.key, a.type) in keys and (b.key, b.type) in keys
    assert lib.cooccurrences(top, top)  # an entity occurs with itself where it occurs


def test_entity_key_folds_lookalikes_and_case():
    assert entity_key("AᏞBERT  Lens") == entity_key("albert lens") == "albert lens"


def test_a_model_change_keeps_the_old_results_until_the_new_ones_are_in(lib, checkpoints,
                                                                         monkeypatch):
    from engine.library import indexer

    monkeypatch.setattr(indexer, "EMBED_GROUP", 1)  # commit each document's vectors at once
    lib.update()
    old = model_key(store.get_installed("local/emb"))
    old_ner = model_key(store.get_installed("local/ner"))
    import_model(checkpoints("encoder", "grouped"), "embeddings", model_id="local/emb2",
                 convert=False, replace=True)
    import_model(checkpoints("token", "grouped"), "ner", model_id="local/ner2",
                 convert=False, replace=True)
    store.set_default_model("summarization", "local/emb2")
    store.set_default_model("ner", "local/ner2")
    new = model_key(store.get_installed("local/emb2"))
    new_ner = model_key(store.get_installed("local/ner2"))
    assert new != old

    seen = []
    report = lib.update(progress=seen.append,
                        cancel=lambda: sum(e.stage == "embeddings" and e.path is not None
                                           for e in seen) > 2)
    assert report.cancelled
    docs = [d for d in lib.documents() if d.status == "indexed"]
    stages = [d.stages["embeddings"] for d in docs]
    assert set(stages) == {old, new}  # half way: each document complete with one model
    for d in docs:  # ... and every document still has all its vectors and its entities
        doc_id = lib.store.document_by_path(d.path).id
        ids = {p.id for p in lib.store.passages_of(doc_id)}
        rows = lib.store._db.execute(
            "SELECT passage_id, model FROM embeddings WHERE passage_id IN "
            f"({','.join(map(str, ids))})").fetchall()
        assert {pid for pid, _ in rows} == ids and {m for _, m in rows} == {d.stages["embeddings"]}
        assert d.stages["entities"] == old_ner
    assert lib.search("capybara")[0].path.endswith("paper.pdf")
    assert len(lib.search("xyzzyq", k=100)) == lib.status().passages  # both models still rank

    report = lib.update()
    assert not report.cancelled and report.entities == 4
    docs = lib.documents()
    assert {d.stages["embeddings"] for d in docs if d.status == "indexed"} == {new}
    assert {d.stages["entities"] for d in docs if d.status == "indexed"} == {new_ner}
    assert {m for (m,) in lib.store._db.execute("SELECT DISTINCT model FROM embeddings")} \
        == {new}
    assert {m for (m,) in lib.store._db.execute("SELECT DISTINCT model FROM entities")} \
        <= {new_ner}


def test_ask_without_a_qa_model_is_a_typed_error(lib, monkeypatch):
    lib.update()

    def none(task):
        raise ModelNotFoundError("No question-answering model is installed.")

    monkeypatch.setattr(store, "default_model", none)
    with pytest.raises(ModelNotFoundError):
        lib.ask("Who is the mayor?")


def test_stages_run_on_request_and_pending_estimates_the_rest(lib):
    report = lib.update(stages=("passages",))
    assert report.embedded == report.entities == 0 and lib.status().passages > 0
    pending = {p.stage: p for p in lib.pending()}
    passages = lib.status().passages
    assert pending["embeddings"].documents == 4 and pending["embeddings"].passages == passages
    assert pending["embeddings"].model == model_key(store.get_installed("local/emb"))
    assert pending["embeddings"].seconds is None  # this model has not run here yet
    lib.update(stages=("embeddings",))
    assert lib.status().indexed == {"passages": 4, "embeddings": 4, "entities": 0}
    pending = {p.stage: p for p in lib.pending()}
    assert pending["embeddings"].documents == 0 and pending["entities"].documents == 4
    with pytest.raises(ValueError, match="unknown stage"):
        lib.update(stages=("ocr",))


def test_folder_status_and_stored_entities(lib, corpus):
    lib.update()
    (folder,) = lib.folder_status()
    assert (folder.path, folder.documents, folder.indexed, folder.failed) == \
        (str(corpus), 6, 4, 2)
    ner = engine.pipeline("ner", model="local/ner", device="cpu")
    for name in ("notes/alpha.txt", "notes/deep/beta.md", "web/report.html", "paper.pdf"):
        document = engine.load_document(corpus / name)
        expected = ner(document)  # what the document view would compute
        stored = lib.stored_entities(corpus / name)
        assert [(e.label, e.type, e.start, e.end, e.text) for e in stored] == \
            [(e.label, e.type, e.start, e.end, e.text) for e in expected]
        assert [e.score for e in stored] == pytest.approx([e.score for e in expected])
    assert stored, "the tiny NER model finds something in the PDF"
    assert lib.stored_entities(corpus / "scan.pdf") is None
    assert lib.stored_entities(corpus / "nowhere.txt") is None


def test_another_connection_sees_new_and_removed_vectors(lib, tmp_path):
    with engine.open_library(lib.path, device="cpu") as other:
        assert other.search("xyzzyq", k=500) == []  # nothing embedded yet, no keyword match
        lib.update()
        assert len(other.search("xyzzyq", k=500)) == lib.status().passages
        (tmp_path / "more").mkdir()
        for i in range(3):
            (tmp_path / "more" / f"m{i}.txt").write_text(f"Gannets {i} dive.\n", "utf-8")
        lib.remove_folder(lib.folders()[0])
        lib.add_folder(tmp_path / "more")
        lib.update()
        hits = other.search("xyzzyq", k=500)  # the vectors it had read are all gone
        assert sorted(h.path for h in hits) == sorted(
            str(tmp_path / "more" / f"m{i}.txt") for i in range(3))
