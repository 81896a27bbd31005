"""The `rag` command as users run it: real entry point, real index, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEEDS

pytestmark = pytest.mark.integration


def rag(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["RAG_BACKEND"] = "extractive"
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a corpus and an index built through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    shutil.copytree(SEEDS, root / "corpus")
    done = rag("index", "--corpus", "corpus", "--index", "idx", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "3 added, 0 updated, 0 removed, 0 unchanged, 0 problems" in done.stdout
    return root


def test_index_again_reports_unchanged(workdir: Path) -> None:
    done = rag("index", "--corpus", "corpus", "--index", "idx", "--json", cwd=workdir)
    report = json.loads(done.stdout)
    assert report["unchanged"] == 3 and report["passages_embedded"] == 0 and report["added"] == []


def test_index_reports_bad_files_and_goes_on(workdir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(workdir / "corpus", corpus)
    (corpus / "empty.txt").write_text("   \n")
    done = rag("index", "--corpus", str(corpus), "--index", str(tmp_path / "idx"), cwd=workdir)
    assert done.returncode == 0
    assert "problem  empty.txt: empty file" in done.stderr
    assert "3 added" in done.stdout


def test_search_prints_ranked_passages(workdir: Path) -> None:
    done = rag("search", "What did Amnesty International UK say?", "--k", "3", "--index", "idx", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. ") and "relevance" in done.stdout and "002_efe52085fdfc4464.txt [" in done.stdout
    hits = json.loads(rag("search", "Amnesty", "--json", "--k", "2", "--index", "idx", cwd=workdir).stdout)
    assert len(hits) == 2 and {"source", "start", "end", "score", "relevance"} <= set(hits[0])


def test_info(workdir: Path) -> None:
    done = rag("info", "--index", "idx", "--json", cwd=workdir)
    info = json.loads(done.stdout)
    assert info["articles"] == 3 and info["passages"] == info["vectors"] > 10 and info["interrupted"] is False


def test_ask_json_is_the_answer(workdir: Path) -> None:
    done = rag("ask", "Why won't Starmer leave the ECHR?", "--json", "--index", "idx", cwd=workdir)
    answer = json.loads(done.stdout)
    assert answer["refused"] is False and answer["citations"] and answer["backend"] == "extractive"
    text = rag("ask", "What is the capital of Australia?", "--index", "idx", cwd=workdir).stdout
    assert "The articles don't cover this." in text


def test_chat_reads_questions_until_eof(workdir: Path) -> None:
    done = rag("chat", "--index", "idx", cwd=workdir,
               stdin="What did Suella Braverman say?\nAnd what did she say about the Prime Minister's lawyers?\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Sources:") == 2 and "lawyer mates" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("index", "--corpus", "no-such-folder", "--index", "idx2"), "Corpus folder not found"),
        (("search", "anything", "--index", "no-index-here"), "run `rag index` first"),
        (("ask", "   ", "--index", "idx"), "The question is empty"),
    ],
)
def test_user_errors_are_one_line(workdir: Path, args: tuple[str, ...], message: str) -> None:
    done = rag(*args, cwd=workdir)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
