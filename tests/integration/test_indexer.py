"""Incremental, idempotent, crash-safe indexing on a real Chroma and the real embedder."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.errors import IndexMismatchError, IndexMissingError
from rag.index.build import build_index
from rag.index.catalog import Catalog
from rag.index.vectors import VectorStore
from rag.settings import Settings
from tests.conftest import BBC_CSV, SEEDS, make_settings

pytestmark = pytest.mark.integration


def index_state(settings: Settings) -> tuple[dict[str, tuple[str, int, int]], set[str]]:
    """Catalog passages (id -> text, start, end) and the ids of the stored vectors."""
    catalog = Catalog(Path(settings.index_dir))
    ids = catalog.passage_ids()
    passages = {pid: (p.text, p.start, p.end) for pid, p in catalog.get_passages(ids).items()}
    return passages, VectorStore(settings).all_ids()


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


def test_build_is_consistent_and_rerun_is_a_no_op(tmp_path: Path, corpus: Path) -> None:
    settings = make_settings(tmp_path, corpus)
    first = build_index(settings)
    assert sorted(first.added) == sorted(p.name for p in SEEDS.iterdir())
    assert first.passages_embedded == first.passages > 10
    passages, vectors = index_state(settings)
    assert set(passages) == vectors
    catalog = Catalog(Path(settings.index_dir))
    for row in catalog.list_articles():
        article = catalog.get_article(str(row["id"]))
        assert article is not None
        for p in catalog.passages_of(article.id):
            assert article.text[p.start : p.end] == p.text

    second = build_index(settings)
    assert second.passages_embedded == 0
    assert second.unchanged == 3 and not second.changed
    assert index_state(settings) == (passages, vectors)


def test_edit_reembeds_only_that_article_and_delete_removes_it(tmp_path: Path, corpus: Path) -> None:
    settings = make_settings(tmp_path, corpus)
    build_index(settings)
    edited = corpus / "001_97877a4a4c045327.txt"
    edited.write_text(edited.read_text() + "\nA new closing paragraph was added by the editor today.\n")
    report = build_index(settings)
    assert report.updated == [edited.name] and not report.added and not report.removed
    catalog = Catalog(Path(settings.index_dir))
    article_id = next(a["id"] for a in catalog.list_articles() if a["source"] == edited.name)
    assert report.passages_embedded == len(catalog.passages_of(str(article_id)))
    passages, vectors = index_state(settings)
    assert set(passages) == vectors
    assert any("closing paragraph was added" in text for text, _, _ in passages.values())

    (corpus / "000_f14baaa9ae4bf647.txt").unlink()
    report = build_index(settings)
    assert report.removed == ["000_f14baaa9ae4bf647.txt"]
    passages, vectors = index_state(settings)
    assert set(passages) == vectors
    assert not any("jeopardise deportation deals" in text for text, _, _ in passages.values())


def test_bad_and_duplicate_files_are_reported_and_lose_nothing(tmp_path: Path, corpus: Path) -> None:
    settings = make_settings(tmp_path, corpus)
    build_index(settings)
    before = index_state(settings)
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02\xff" * 1000)
    (corpus / "copy-of-000.txt").write_bytes((corpus / "000_f14baaa9ae4bf647.txt").read_bytes())
    report = build_index(settings)
    reasons = {p.source: p.reason for p in report.problems}
    assert "binary" in reasons["broken.txt"]
    assert "duplicate of 000_f14baaa9ae4bf647.txt" in reasons["copy-of-000.txt"]
    assert index_state(settings) == before


def test_changed_settings_are_refused_until_rebuild(tmp_path: Path, corpus: Path) -> None:
    settings = make_settings(tmp_path, corpus)
    build_index(settings)
    changed = make_settings(tmp_path, corpus, chunk_max_chars=400)
    with pytest.raises(IndexMismatchError, match="rag index --rebuild"):
        build_index(changed)
    report = build_index(changed, rebuild=True)
    assert len(report.added) == 3
    passages, vectors = index_state(changed)
    assert set(passages) == vectors


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="rag index"):
        Catalog(tmp_path / "nowhere")


def test_orphans_and_holes_are_repaired(tmp_path: Path, corpus: Path) -> None:
    """What a kill between the Chroma and catalog writes leaves behind is fixed by the next run."""
    settings = make_settings(tmp_path, corpus)
    build_index(settings)
    clean = index_state(settings)
    store = VectorStore(settings)
    victim = sorted(clean[0])[0]
    vectors = store.vectors([victim])
    store.delete([victim])  # a hole
    store.upsert(["orphan-0000"], vectors[victim][None, :], ["stale text"], [{"article_id": "gone"}])  # an orphan
    Catalog(Path(settings.index_dir)).set_meta(dirty="1")
    report = build_index(settings)
    assert report.repaired == 2 and report.passages_embedded == 0
    assert index_state(settings) == clean


def kill_corpus(tmp_path: Path, articles: int) -> Path:
    """The seeds and the first ``articles`` BBC articles, in a folder the kill loops can edit."""
    from evals.corpora import write_bbc_articles

    folder = tmp_path / "kill-corpus"
    shutil.copytree(SEEDS, folder / "seeds")
    write_bbc_articles(BBC_CSV, folder, limit=articles)
    return folder


def kill_ten_times(
    command: list[str], env: dict[str, str], articles: list[Path], generation: Callable[[], int], *, seed: int,
    edits: int, longest_wait: float, poll: float, after_commit: float,
) -> int:
    """Run the indexing command ten times, each round editing ``edits`` articles so there is writing to interrupt,
    and SIGKILL it: on odd rounds at a random moment (start-up, scanning, embedding, writing), on even rounds
    just after ``generation()`` shows its first commit. Returns how many kills landed while it ran."""
    rng = random.Random(seed)
    kills = 0
    for round_ in range(10):
        if round_:
            for victim in articles[(round_ * edits) % len(articles) :][:edits]:
                victim.write_text(victim.read_text() + f" edit {round_}.")
        before = generation()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_ % 2:
            time.sleep(rng.uniform(0.5, longest_wait))
        else:
            deadline = time.monotonic() + 300
            while process.poll() is None and generation() <= before and time.monotonic() < deadline:
                time.sleep(poll)
            time.sleep(rng.uniform(0.0, after_commit))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    return kills


def _generation(settings: Settings) -> int:
    try:
        return Catalog(Path(settings.index_dir)).generation
    except Exception:  # not created yet, or locked by the writer for a moment
        return -1


@pytest.mark.skipif(not BBC_CSV.exists(), reason="needs ../shared/corpora")
def test_killed_indexer_always_recovers_to_a_clean_build(tmp_path: Path) -> None:
    """SIGKILL `rag index` at random moments while it writes, 10 times; the next run equals a clean build."""
    corpus = kill_corpus(tmp_path, articles=40)
    articles = sorted((corpus / "bbc").rglob("*.txt"))
    killed = make_settings(tmp_path / "killed", corpus)
    command = [sys.executable, "-m", "rag.cli", "index", "--corpus", str(corpus), "--index", str(killed.index_dir)]
    kills = kill_ten_times(command, os.environ.copy(), articles, lambda: _generation(killed), seed=1234, edits=15,
                           longest_wait=4.0, poll=0.02, after_commit=0.2)
    assert kills >= 5, f"only {kills} of 10 kills landed while the indexer was running"

    build_index(killed)
    clean = make_settings(tmp_path / "clean", corpus)
    build_index(clean)
    got, want = index_state(killed), index_state(clean)
    assert got[0] == want[0]
    assert got[1] == set(got[0])
    catalog = Catalog(Path(killed.index_dir))
    assert set(catalog.sentence_vectors(got[1])) == got[1]  # every passage has its sentence vectors


def test_duplicates_follow_their_original(tmp_path: Path) -> None:
    """A duplicate is indexed once its original changes, and leaves when it becomes one."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = (SEEDS / "002_efe52085fdfc4464.txt").read_text()
    (corpus / "a.txt").write_text(text)
    (corpus / "b.txt").write_text(text)
    settings = make_settings(tmp_path, corpus)
    first = build_index(settings)
    assert first.added == ["a.txt"] and [p.source for p in first.problems] == ["b.txt"]

    (corpus / "a.txt").write_text(text + "\nAn editor's note was appended to this copy later on.\n")
    second = build_index(settings)
    assert sorted(second.added + second.updated) == ["a.txt", "b.txt"] and not second.problems

    (corpus / "b.txt").write_text((corpus / "a.txt").read_text())
    third = build_index(settings)
    assert third.removed == ["b.txt"] and [p.source for p in third.problems] == ["b.txt"]
    passages, vectors = index_state(settings)
    assert set(passages) == vectors


def test_progress_is_reported_article_by_article(tmp_path: Path, corpus: Path) -> None:
    seen: list[tuple[int, int]] = []
    build_index(make_settings(tmp_path, corpus), on_progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (3, 3) and all(total == 3 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # never backwards


def test_an_upload_indexes_only_itself_and_a_copy_of_an_indexed_article_is_skipped(tmp_path: Path, corpus: Path) -> None:
    from rag.index.build import add_to_index, remove_from_index

    settings = make_settings(tmp_path, corpus)
    build_index(settings)
    (corpus / "copy.txt").write_text((corpus / "002_efe52085fdfc4464.txt").read_text())
    (corpus / "001_97877a4a4c045327.txt").unlink()  # gone from the folder, but an upload leaves it indexed
    report = add_to_index(settings, ["copy.txt"])
    assert report.added == [] and report.removed == [] and report.articles == 3
    assert [(p.source, p.reason) for p in report.problems] == [("copy.txt", "duplicate of 002_efe52085fdfc4464.txt; skipped")]
    removed = remove_from_index(settings, [next(aid for source, (aid, _) in Catalog(Path(settings.index_dir))
                                                .manifest().items() if source == "001_97877a4a4c045327.txt")])
    assert removed.removed == ["001_97877a4a4c045327.txt"] and removed.articles == 2
