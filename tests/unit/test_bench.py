"""`rag bench`: the measuring code paths on the seeds, and the pure helpers behind the report.

The numbers are never asserted beyond being present and positive: this machine's
timings are too noisy for thresholds. The full benchmark is `rag bench`.
"""


from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from evals.bench.stats import percentile, ratio, summarize
from evals.quality.dataset import EvalQuestion


def test_summary_statistics() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    stats = summarize([3.0, None, 1.0, 2.0])
    assert stats["n"] == 3 and stats["median"] == 2.0 and stats["max"] == 3.0
    assert summarize([])["median"] is None
    assert ratio(1.0, 4.0) == 0.25 and ratio(None, 1.0) is None and ratio(1.0, 0.0) is None


def test_size_names() -> None:
    from evals.bench.corpus import parse_size

    assert parse_size("seeds").bbc_limit == 0
    assert parse_size("bbc").bbc_limit is None and not parse_size("bbc").synthetic
    assert parse_size("bbc100").bbc_limit == 100
    assert parse_size("x25").multiple == 25 and parse_size("x25").synthetic
    with pytest.raises(ValueError):
        parse_size("x1")
    with pytest.raises(ValueError):
        parse_size("huge")


def test_synthetic_clone_keeps_offsets_and_perturbs_vectors() -> None:
    from evals.bench.synthetic import clone_article, perturb_vectors
    from rag.types import Article, Passage

    text = "Ministers met on Monday. They agreed a plan! Critics objected.\nA second paragraph follows. It ends."
    article = Article(id="a1", source="bbc/politics/0001.txt", title="Plan", text=text, content_hash="h" * 64)
    passages = [
        Passage(id="a1-hhhhhhhh-0000", article_id="a1", ordinal=0, text=text[:62], start=0, end=62),
        Passage(id="a1-hhhhhhhh-0001", article_id="a1", ordinal=1, text=text[63:], start=63, end=len(text)),
    ]
    from rag.ingest.chunking import split_sentences
    from rag.types import SentenceVectors

    sentences = {}
    for p in passages:
        spans = split_sentences(p.text)
        sentences[p.id] = SentenceVectors(spans, np.arange(len(spans) * 2, dtype=np.float32).reshape(-1, 2))
    clone, clone_passages, clone_sentences = clone_article(article, passages, 7, sentences)
    assert clone.id != article.id and clone.source.startswith("synthetic/copy007/")
    assert [p.id for p in clone_passages] != [p.id for p in passages]
    for original, copy in zip(passages, clone_passages, strict=True):
        assert clone.text[copy.start : copy.end] == copy.text
        assert sorted(copy.text.split()) == sorted(original.text.split())  # same words, shuffled sentences
        # Each sentence keeps its own vector, wherever the shuffle put it.
        source = sentences[original.id]
        by_text = {original.text[a:b]: tuple(v) for (a, b), v in zip(source.spans, source.vectors, strict=True)}
        moved = clone_sentences[copy.id]
        assert {copy.text[a:b]: tuple(v) for (a, b), v in zip(moved.spans, moved.vectors, strict=True)} == by_text
    again = clone_article(article, passages, 7, sentences)
    assert (again[0], again[1]) == (clone, clone_passages)  # seeded

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    noisy = perturb_vectors(vectors, rng, target_cosine=0.9)
    assert np.allclose(np.linalg.norm(noisy, axis=1), 1.0, atol=1e-5)
    assert float((vectors * noisy).sum(axis=1).mean()) == pytest.approx(0.9, abs=0.01)


def _question(qid: str, answerable: bool, facts: list[str]) -> EvalQuestion:
    return EvalQuestion(
        id=qid, question="Q?", answerable=answerable,
        reference_answer="A reference." if answerable else "Not covered.",
        sources=["000"] if answerable else [], key_facts=facts,
    )


def test_quality_score_counts_facts_and_refusals() -> None:
    from evals.bench.quality import baseline_refused, score

    class Run:
        def __init__(self, qid: str, answer: str, refused: bool | None) -> None:
            self.id, self.answer, self.refused = qid, answer, refused

    questions = [
        _question("a", True, ["jeopardise deportation deals", "international law"]),
        _question("b", True, ["public interest test"]),
        _question("c", False, []),
    ]
    runs = [
        Run("a", "He said leaving would jeopardise deportation deals [1].", False),
        Run("b", "I don't know.", None),
        Run("c", "I don't know the answer.", None),
    ]
    result = score(questions, runs)
    assert result["key_fact_recall"] == pytest.approx((0.5 + 0.0) / 2)
    assert result["false_refusals"] == 1 and result["correct_refusals"] == 1
    assert baseline_refused("The context does not mention this.")
    assert not baseline_refused("Starmer said the ECHR matters.")


def _fake_results() -> dict[str, Any]:
    o = {"median": 1.0, "p95": 2.0, "n": 2}
    ours = {"n": 2, "first_evidence": {"median": 0.2, "p95": 0.3}, "first_token": o, "total": {"median": 5.0, "p95": 6.0},
            "input_tokens": {"median": 400}, "output_tokens": {"median": 60}, "refused": 0, "fell_back": 0}
    base = {**ours, "total": {"median": 20.0, "p95": 25.0}}
    quality = {"key_fact_recall": 0.5, "false_refusals": 0, "answerable": 2, "correct_refusals": 0, "unanswerable": 0}
    return {
        "machine": {"date": "2026-01-01T00:00:00", "cpu_model": "cpu", "load_average": [1.0, 1.0, 1.0]},
        "config": {"quick": True},
        "sizes": {"seeds": {"articles": 3, "passages": 54, "synthetic": False, "multiple": 1, "from_cache": True},
                  "x25": {"articles": 9, "passages": 120_000, "synthetic": True, "multiple": 25, "from_cache": True}},
        "ingest": {"bbc": {"articles": 931, "passages": 4300, "cold_build_seconds": o, "ingest_pct_of_raw": 95.0,
                           "noop_seconds": {"median": 0.5}, "peak_rss_bytes": {"cold_build": 2**30}}},
        "retrieval": {"seeds": {"seconds": o, "repeat_seconds": o}},
        "answers": {"seeds": {"local": {"ours": ours}}, "x25": {"extractive": {"ours": ours}}},
        "baseline": {"seeds": {"ours": ours, "baseline": base, "quality": {"ours": quality, "baseline": quality},
                               "speedup_total_p50": 4.0, "ratio_total_p50": 0.25}},
        "verification": {
            "llm_verifier": {"n": 2, "total": {"median": 9.0, "p95": 11.0}, "verification": {"median": 4.0, "p95": 5.0},
                             "refused": 0, "dropped_sentences": 1},
            "deterministic_only": {"n": 2, "total": {"median": 5.0, "p95": 6.0},
                                   "verification": {"median": 0.1, "p95": 0.2}, "refused": 0, "dropped_sentences": 0},
            "ratio_total_p50": 1.8,
        },
        "app": {"status": "ok", "backend": "local", "index": "i", "ready_seconds": 9.0, "questions": 3,
                "rss_ready_bytes": 2**30, "rss_serving_bytes": 4 * 2**30, "rss_peak_bytes": 4 * 2**30},
    }


def test_goals_and_markdown_from_results_alone() -> None:
    from evals.bench.report import evaluate_goals, render_markdown

    results = _fake_results()
    goals = {g["goal"]: g for g in evaluate_goals(results)}
    assert len(goals) == 7
    assert goals["first evidence p50 on seeds"]["met"] is True
    assert goals["first evidence p50 at >= 100,000 passages"]["met"] is True
    assert goals["full local answer p50 on seeds (1.5B)"]["met"] is True
    assert goals["local answer speed-up vs baseline (same model)"]["met"] is True
    assert goals["memory while serving"]["met"] is False
    results["goals"] = list(goals.values())
    markdown = render_markdown(results)
    for heading in ("## Goals", "## Ingest", "## Retrieval latency", "## Answer latency", "## Baseline", "## App"):
        assert heading in markdown
    assert "NOT met" in markdown and "| seeds | local | 2 |" in markdown
    assert "## Verification cost" in markdown and "| LLM verifier (default) | 2 | 9.00 / 11.00 | 4.00 / 5.00 |" in markdown
    assert "verifier (medians): 1.80x" in markdown


def test_bench_command_is_registered() -> None:
    from rag.cli import app

    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--quick" in result.output and "--sizes" in result.output
