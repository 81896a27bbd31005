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
        (("search", "", "--index", "idx"), "The question is empty"),  # search and ask agree
        (("search", "\x1b\x07 ", "--index", "idx"), "The question is empty"),
    ],
)
def test_user_errors_are_one_line(workdir: Path, args: tuple[str, ...], message: str) -> None:
    done = rag(*args, cwd=workdir)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_file_names_cannot_forge_lines_of_the_report(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = "The council approved the budget on Monday after a long debate about library closures.\n"
    (corpus / "a.txt\nadded    forged.txt").write_text(body)
    (corpus / "report\u202etxt.exe.txt").write_text(body.replace("budget", "plan"))
    done = rag("index", "--corpus", "corpus", "--index", "idx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "added    a.txt\\nadded    forged.txt" in lines and "added    forged.txt" not in lines
    assert "added    report\\u202etxt.exe.txt" in lines and "\u202e" not in done.stdout


def test_an_empty_corpus_folder_never_empties_the_index_unless_asked(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "corpus")
    assert rag("index", "--corpus", "corpus", "--index", "idx", cwd=tmp_path).returncode == 0
    shutil.rmtree(tmp_path / "corpus")
    (tmp_path / "corpus").mkdir()  # an unmounted share looks like this
    refused = rag("index", "--corpus", "corpus", "--index", "idx", cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "holds no articles, but the index holds 3: nothing was removed" in refused.stderr
    assert "--allow-empty" in refused.stderr
    info = rag("info", "--corpus", "corpus", "--index", "idx", "--json", cwd=tmp_path)
    assert json.loads(info.stdout)["articles"] == 3
    emptied = rag("index", "--corpus", "corpus", "--index", "idx", "--allow-empty", cwd=tmp_path)
    assert emptied.returncode == 0 and "3 removed" in emptied.stdout, emptied.stderr


def test_a_missing_corpus_folder_creates_no_index(tmp_path: Path) -> None:
    done = rag("index", "--corpus", "no-such-folder", "--index", "idx", cwd=tmp_path)
    assert done.returncode == 1 and "Corpus folder not found" in done.stderr
    assert not (tmp_path / "idx").exists()


def test_an_article_with_too_many_passages_is_a_problem_line_not_an_hour_of_work(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sentence = "The council approved the budget on Monday after a long debate about library closures number {}. "
    (corpus / "one-line.txt").write_text("".join(sentence.format(n) for n in range(400)))  # one 40 kB line
    (corpus / "short.txt").write_text(sentence.format(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", "--corpus", "corpus", "--index", "idx"], cwd=tmp_path,
        env={**env, "RAG_BACKEND": "extractive", "RAG_MAX_PASSAGES_PER_ARTICLE": "20"},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "problem  one-line.txt: too long: " in done.stderr and "> limit 20" in done.stderr
    assert "1 added" in done.stdout and "1 problems" in done.stdout
