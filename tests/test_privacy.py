"""Private by construction: reading and analysing a document opens no network connection."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.document_factory import sample_paths

REPO = Path(__file__).resolve().parents[1]
SAMPLES = sample_paths()


def test_analysis_works_with_the_network_cut(checkpoints, tmp_path):
    sample = SAMPLES[0]
    folders = {head: str(checkpoints(head)) for head in ("qa", "token", "sequence", "encoder")}
    code = textwrap.dedent(f"""
        import socket, sys

        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted: " + repr(args[:2]))

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        import engine
        folders = {folders!r}
        doc = engine.load_document({str(sample)!r})
        assert engine.pipeline("ner", model=folders["token"], device="cpu")(doc) is not None
        assert engine.pipeline("sentiment", model=folders["sequence"])(doc).label
        assert engine.pipeline("summarization", model=folders["encoder"])(doc).sentences
        answers = engine.pipeline("question-answering", model=folders["qa"])(
            question="What is ALBERT?", context=doc)
        assert answers
        for name in ("huggingface_hub", "requests", "httpx", "torch", "transformers"):
            assert name not in sys.modules, name + " was imported"
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ALBERT_LENS_HOME": str(tmp_path / "home")}
    env.pop("HF_HUB_OFFLINE", None)  # the engine must not need the switch to stay offline
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
