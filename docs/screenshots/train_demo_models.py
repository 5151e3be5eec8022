"""Trains the tiny demo models used for the README screenshots, on synthetic text, on the CPU.

    .venv/bin/python docs/screenshots/train_demo_models.py OUT_DIR

Nothing is downloaded. A sentencepiece vocabulary is trained on tests/data/corpus.txt, the sample
documents in ../shared/samples/ and the generated sentences; then a tiny ALBERT token classifier
(CoNLL labels; hidden 128, 4 shared layers, 128 positions) starts from random weights and is
fine-tuned for 600 AdamW steps on sentences made from templates, small lists of names and
made-up words. The sample documents' sentences are never trained on; the names that appear in the
screenshot's document (ALBERT, BERT, Google Research, GLUE...) are in the lists.

Two F1 scores are printed, both on newly generated sentences: with names from the training lists,
and with a fifth of the names kept out of training. The model learns the lists, not how to find
names it has never seen.

The question-answering and sentiment checkpoints are left random, as in the default screenshots:
question answering over the app's 384-token windows did not learn in a few minutes, and a
template-trained sentiment model called most of the sample document negative.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO.parent / "shared" / "samples"
sys.path.insert(0, str(REPO))

SHAPE = {
    "embedding_size": 64, "hidden_size": 128, "num_hidden_layers": 4, "num_hidden_groups": 1,
    "inner_group_num": 1, "num_attention_heads": 4, "intermediate_size": 256,
    "hidden_act": "gelu_new", "max_position_embeddings": 128,
    "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout_prob": 0.0,
}
MAX_LEN = 128

PER = ["Zhenzhong Lan", "Mingda Chen", "Sebastian Goodman", "Kevin Gimpel", "Piyush Sharma",
       "Radu Soricut", "Jacob Devlin", "Ming-Wei Chang", "Kenton Lee", "Kristina Toutanova",
       "Ashish Vaswani", "Noam Shazeer", "Yinhan Liu", "Myle Ott", "Alec Radford", "Ilya Sutskever",
       "Maria Garcia", "John Smith", "Anna Schmidt", "Wei Zhang", "Yuki Tanaka", "Priya Patel",
       "Olga Ivanova", "Lucas Martin", "Sarah Johnson", "David Brown", "Emma Wilson", "Ahmed Hassan",
       "Laura Rossi", "Carlos Mendes", "Hannah Becker", "Tom Baker", "Julia Novak", "Peter Jensen"]
ORG = ["Google Research", "Google", "Toyota Technological Institute", "Microsoft", "Microsoft Research",
       "Stanford University", "Facebook AI", "Meta AI", "OpenAI", "Hugging Face", "DeepMind",
       "Carnegie Mellon University", "the University of Washington", "Allen Institute for AI",
       "MIT", "IBM Research", "Amazon", "Baidu", "Alibaba", "Tsinghua University", "Apple",
       "Nvidia", "the University of Toronto", "Oxford University", "Salesforce Research",
       "the Chicago Research Lab", "Mila", "Cohere", "Anthropic", "Intel Labs"]
LOC = ["Mountain View", "Chicago", "Seattle", "London", "Paris", "Toronto", "Beijing", "Tokyo",
       "California", "New York", "Berlin", "Montreal", "Zurich", "Singapore", "Boston", "Japan",
       "China", "Canada", "France", "Germany", "India", "the United States", "Europe", "Asia",
       "Redmond", "Palo Alto", "Amsterdam", "Vancouver", "Sydney", "Madrid"]
MISC = ["ALBERT", "BERT", "RoBERTa", "XLNet", "GPT-2", "GPT-3", "T5", "ELECTRA", "DistilBERT",
        "GLUE", "SuperGLUE", "SQuAD", "SQuAD 2.0", "RACE", "MNLI", "SST-2", "CoNLL-2003",
        "Wikipedia", "BookCorpus", "TensorFlow", "PyTorch", "ImageNet", "Transformer-XL", "ERNIE",
        "ELMo", "Word2Vec", "MS MARCO", "LAMBADA", "WikiText", "XLM"]

NER_TEMPLATES = [
    "{MISC} was developed by researchers at {ORG} in {LOC}.",
    "Introduced by research scientists from {ORG}, {MISC} builds on the foundation laid by {MISC}.",
    "{PER} and {PER} of {ORG} evaluated {MISC} on the {MISC} benchmark.",
    "{MISC} was evaluated across several benchmarks, including {MISC}, {MISC} and {MISC}.",
    "The team at {ORG}, based in {LOC}, released {MISC} in 2019.",
    "{PER} presented the results at a workshop in {LOC}.",
    "According to {PER}, {MISC} reduces the number of parameters compared to {MISC}.",
    "{ORG} trained the model on {MISC} and {MISC}.",
    "In {LOC}, {ORG} uses {MISC} for search and question answering.",
    "{MISC} achieves state-of-the-art results on {MISC} with fewer parameters than {MISC}.",
    "The paper by {PER}, {PER} and {PER} was written at {ORG}.",
    "{PER} joined {ORG} in {LOC} to work on language models.",
    "Models such as {MISC} and {MISC} were pretrained on {MISC}.",
    "{ORG} and {ORG} compared {MISC} with {MISC} on the {MISC} dataset.",
    "Developers in {LOC} and {LOC} can fine-tune {MISC} with {MISC}.",
    "One of the prominent achievements in this domain is the development of {MISC}.",
    "Researchers at {ORG} noted that {MISC} performs well on {MISC}.",
    "{MISC} employs a masked language model and sentence order prediction.",
    "Despite its success, {MISC} has limitations in terms of model size.",
    "{PER} said that the results on {MISC} were surprising.",
]
PLAIN = [
    "This report delves into the architecture, innovations, applications, and implications of the model.",
    "Traditional language models typically read text input in a left-to-right manner.",
    "Factorized embedding parameterization reduces the number of parameters.",
    "Cross-layer parameter sharing leads to significantly fewer parameters.",
    "These tasks guide the model to understand the relationships between sentences.",
    "Background", "Introduction", "Conclusion", "Applications", "Performance Metrics and Benchmarks",
    "Architecture and Training", "Limitations and Future Work", "Parameter Reduction Techniques",
    "The model uses a transformer architecture that considers the full context of a word.",
    "Natural Language Processing has seen significant advancements in recent years.",
    "Training instability can be a challenge for deeper models.",
    "Another innovation is the use of improved layer normalization.",
    "Sentiment analysis, text classification and question answering are common tasks.",
    "The smaller model is easier to deploy on mobile devices and in the cloud.",
    "In contrast, the approach employs a bidirectional encoder.",
    "In summary, the work improves efficiency and scalability.",
    "Chatbots and virtual assistants benefit from better language understanding.",
]


# The names in the screenshot's sample document always stay in training.
SHOWN = {"ALBERT", "BERT", "Google Research", "GLUE", "SQuAD", "RACE", "Google"}


def split(names, rng):
    """Training and held-out names: a fifth of each list is never seen in training."""
    rest = [n for n in names if n not in SHOWN]
    rng.shuffle(rest)
    k = max(3, len(names) // 5)
    return [n for n in names if n in SHOWN] + rest[k:], rest[:k]


PSEUDO = {"start": [], "cont": [], "names": set()}


def pseudo_words(tok):
    """Made-up words from random pieces of the vocabulary, so that every piece is seen as O."""
    for piece in tok.convert_ids_to_tokens(list(range(tok.vocab_size))):
        core = piece.lstrip("\u2581")
        if core.isalpha() and core.isascii():
            PSEUDO["start" if piece.startswith("\u2581") else "cont"].append(core)
    PSEUDO["names"] = {w.lower() for names in (PER, ORG, LOC, MISC) for n in names for w in n.split()}


def pseudo_word(rng):
    while True:
        w = rng.choice(PSEUDO["start"]) + "".join(rng.choice(PSEUDO["cont"])
                                                  for _ in range(rng.choice([0, 0, 1, 1, 2])))
        if w.lower() not in PSEUDO["names"]:
            return w


def ner_sentence(rng, gaz):
    """A list of (word, tag) pairs: one template sentence, or a plain sentence."""
    roll = rng.random()
    if roll < 0.25:
        return [(w, "O") for w in rng.choice(PLAIN).split()]
    if roll < 0.5 and PSEUDO["start"]:
        words = [pseudo_word(rng) for _ in range(rng.randint(3, 14))]
        template = " ".join(words)
        for _ in range(rng.randint(0, 2)):
            k = rng.randrange(len(words))
            words[k] = "{" + rng.choice(list(gaz)) + "}"
        template = " ".join(words) + rng.choice([".", ".", ",", ""])
    else:
        template = rng.choice(NER_TEMPLATES)
        if PSEUDO["start"]:
            template = " ".join(pseudo_word(rng) if "{" not in w and rng.random() < 0.15 else w
                                for w in template.split())
    out = []
    for part in template.split():
        kind = next((k for k in gaz if "{" + k + "}" in part), None)
        if kind is None:
            out.append((part, "O"))
            continue
        pre, post = part.split("{" + kind + "}")
        words = rng.choice(gaz[kind]).split()
        if words[0] == "the":  # "the University of X": the article is not part of the name
            out.append(((pre + "the"), "O"))
            pre, words = "", words[1:]
        words[0] = pre + words[0]
        words[-1] = words[-1] + post
        for i, w in enumerate(words):
            out.append((w, ("B-" if i == 0 else "I-") + kind))
    return out


def encode_ner(tok, words, label2id):
    """Tokens per word; punctuation glued to a word keeps the word's tag only on the name part."""
    ids, labels = [], []
    for word, tag in words:
        core, tail = word, ""
        while core and core[-1] in ".,;:" and tag != "O":
            core, tail = core[:-1], core[-1] + tail
        pieces = tok(core, add_special_tokens=False)["input_ids"]
        for j, p in enumerate(pieces):
            ids.append(p)
            t = tag if j == 0 or tag == "O" else "I-" + tag[2:]
            labels.append(label2id[t])
        if tail:
            # in running text "Seattle." is "▁seattle" + "." - no leading "▁" on the period
            for p in tok.convert_tokens_to_ids(list(tail)):
                ids.append(p)
                labels.append(label2id["O"])
    return ids, labels


def pack(rng, make, budget):
    """Sentences joined until the token budget is reached (covers all positions)."""
    ids, labels = [], []
    while True:
        a, b = make()
        if len(ids) + len(a) > budget:
            return ids, labels
        ids += a
        labels += b


def ner_batches(tok, rng, gaz, label2id, n):
    import torch

    rows = []
    for _ in range(n):
        budget = rng.choice([20, 40, 80, MAX_LEN - 2, MAX_LEN - 2])
        ids, labels = pack(rng, lambda: encode_ner(tok, ner_sentence(rng, gaz), label2id), budget)
        rows.append(([tok.cls_token_id] + ids + [tok.sep_token_id], [-100] + labels + [-100]))
    width = max(len(r[0]) for r in rows)
    x = torch.full((n, width), tok.pad_token_id)
    y = torch.full((n, width), -100)
    m = torch.zeros((n, width), dtype=torch.long)
    for i, (a, b) in enumerate(rows):
        x[i, :len(a)] = torch.tensor(a)
        y[i, :len(b)] = torch.tensor(b)
        m[i, :len(a)] = 1
    return x, y, m


def spans(tags):
    out, cur = set(), None
    for i, t in enumerate(tags + ["O"]):
        if cur and not (t.startswith("I-") and t[2:] == cur[0]):
            out.add((cur[0], cur[1], i))
            cur = None
        if t.startswith("B-") or (t.startswith("I-") and cur is None):
            cur = (t[2:], i)
    return out


def train(model, batches, steps, lr, loss_of):
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(steps):
        loss = loss_of(model, batches())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"  step {step:4d}  loss {loss.item():.3f}", flush=True)
    model.eval()


def train_ner(folder, tok, steps):
    import torch
    import transformers

    rng = random.Random(1)
    gaz_train, gaz_test = {}, {}
    for kind, names in {"PER": PER, "ORG": ORG, "LOC": LOC, "MISC": MISC}.items():
        gaz_train[kind], gaz_test[kind] = split(names, rng)
    pseudo_words(tok)
    model = transformers.AlbertForTokenClassification.from_pretrained(folder)
    label2id = model.config.label2id

    def loss_of(m, batch):
        x, y, mask = batch
        return m(input_ids=x, attention_mask=mask, labels=y).loss

    train(model, lambda: ner_batches(tok, rng, gaz_train, label2id, 24), steps, 2e-3, loss_of)
    model.save_pretrained(folder)

    id2label = model.config.id2label
    scores = {}
    for name, gaz in (("held-out names", gaz_test), ("training names", gaz_train)):
        test_rng = random.Random(99)
        tp = fp = fn = 0
        with torch.no_grad():
            for _ in range(10):
                x, y, mask = ner_batches(tok, test_rng, gaz, label2id, 40)
                pred = model(input_ids=x, attention_mask=mask).logits.argmax(-1)
                for i in range(len(x)):
                    keep = y[i] != -100
                    gold = spans([id2label[int(t)] for t in y[i][keep]])
                    got = spans([id2label[int(t)] for t in pred[i][keep]])
                    tp += len(gold & got)
                    fp += len(got - gold)
                    fn += len(gold - got)
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        scores[name] = (p, r, 2 * p * r / max(1e-9, p + r))
        print(f"  NER {name}: precision {p:.3f} recall {r:.3f} F1 {scores[name][2]:.3f}")
    return scores




# ------------------------------------------------------------------------------------------ main

def build(out: Path, steps: dict | None = None) -> dict[str, Path]:
    import torch
    import transformers

    from tests import checkpoint_factory as factory

    steps = {"ner": 600, **(steps or {})}
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    rng = random.Random(0)
    lines = [factory.CORPUS.read_text(encoding="utf-8")]
    lines += [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    gaz = {"PER": PER, "ORG": ORG, "LOC": LOC, "MISC": MISC}
    lines += [" ".join(w for w, _ in ner_sentence(rng, gaz)) for _ in range(3000)]
    corpus = out / "spiece-corpus.txt"
    corpus.write_text("\n".join(lines).lower(), encoding="utf-8")
    spiece = factory.train_spiece(out / "spiece.model", vocab_size=3000, corpus=corpus)
    corpus.unlink()
    print(f"sentencepiece: {time.monotonic() - t0:.1f} s")

    made = {}
    made["ner"] = factory.build_checkpoint(out / "demo-token", spiece, head="token", shape=SHAPE,
                                           seed=7, perturb=False)
    # Not trained (random, as in the default screenshots): question answering over the app's
    # 384-token windows did not learn in a few minutes, and a template-trained sentiment model
    # called most of the sample document negative.
    for task, head in (("question-answering", "qa"), ("sentiment", "sequence")):
        made[task] = factory.build_checkpoint(out / f"tiny-{head}", spiece, head=head, seed=7)
    made["embeddings"] = factory.build_checkpoint(out / "tiny-encoder", spiece, head="encoder",
                                                  seed=7)
    tok = transformers.AlbertTokenizerFast(vocab_file=str(spiece))
    results = {}
    t = time.monotonic()
    print(f"ner: {steps['ner']} steps")
    results["ner"] = train_ner(made["ner"], tok, steps["ner"])
    print(f"ner: {time.monotonic() - t:.1f} s")
    print(f"total {time.monotonic() - t0:.1f} s")
    return made


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    build(args.out)
