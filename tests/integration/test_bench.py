"""`rag bench`: the measuring code paths on the seeds, and the pure helpers behind the report.

The numbers are never asserted beyond being present and positive: this machine's
timings are too noisy for thresholds. The full benchmark is `rag bench`.
"""


from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.integration
def test_bench_on_seeds_writes_sane_results(tmp_path: Path) -> None:
    """Ingest (in its subprocess), retrieval and extractive answers on the seeds; no LLM, no baseline."""
    from evals.bench.run import BenchConfig, run_bench, write_results

    config = BenchConfig(
        sizes=["seeds"], backends=["extractive"], questions=2, retrieval_questions=4, baseline=False,
        ingest_rounds=1, noop_cli=False, app=False, cache=tmp_path / "cache", out=tmp_path / "out", command="test",
    )
    results = run_bench(config)
    json_path, md_path = write_results(results, config.out, quick=True)
    data = json.loads(json_path.read_text())

    assert data["sizes"]["seeds"]["articles"] == 3 and data["sizes"]["seeds"]["passages"] > 0
    ingest = data["ingest"]["seeds"]
    for key in ("cold_passages_per_s", "cold_articles_per_s", "raw_passages_per_s", "ingest_pct_of_raw"):
        assert ingest[key] > 0, key
    assert ingest["noop_seconds"]["median"] > 0
    assert ingest["peak_rss_bytes"]["cold_build"] > 50 * 2**20
    retrieval = data["retrieval"]["seeds"]
    assert retrieval["seconds"]["n"] == 4 and retrieval["seconds"]["median"] > 0
    assert retrieval["seconds"]["p95"] >= retrieval["seconds"]["median"]
    answers = data["answers"]["seeds"]["extractive"]
    assert answers["ours"]["n"] == 2
    assert 0 < answers["ours"]["first_evidence"]["median"] <= answers["ours"]["total"]["median"]
    assert answers["ours"]["first_token"]["median"] is None  # no LLM, no tokens
    assert data["machine"]["logical_cores"] >= 1 and len(data["machine"]["load_average"]) == 3
    assert len(data["goals"]) == 7
    markdown = md_path.read_text()
    assert "## Ingest" in markdown and "| seeds |" in markdown
    assert not (config.out / "bench-latest.md").exists()  # quick runs leave the committed report alone


@pytest.mark.integration
def test_baseline_chain_streams_with_timings(tmp_path: Path) -> None:
    """The tutorial pipeline over the seeds, with a canned chat model in place of the LLM."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from evals.bench.baseline import TOP_K, ingest_baseline, open_baseline, stream_timed
    from rag.embeddings import get_embedder
    from rag.settings import Settings
    from tests.conftest import SEEDS

    settings = Settings()
    embedder = get_embedder(settings.resolved_embedding_model(), settings.embedding_batch_size)
    ingest = ingest_baseline(SEEDS, tmp_path / "baseline", embedder)
    assert ingest.documents == 3 and ingest.chunks > 3
    baseline = open_baseline(tmp_path / "baseline", embedder)
    assert baseline.count() == ingest.chunks
    chain = baseline.chain(FakeListChatModel(responses=["Because of deportation deals."]))
    run = stream_timed(chain, "Why won't Starmer leave the ECHR?")
    assert run.answer == "Because of deportation deals."
    assert len(run.contexts) == TOP_K
    assert run.first_evidence is not None and run.first_token is not None
    assert 0 < run.first_evidence <= run.first_token <= run.total


@pytest.mark.integration
@pytest.mark.llm
def test_verification_cost_runs_both_verifiers_on_the_same_questions(seed_settings) -> None:  # type: ignore[no-untyped-def]
    from evals.bench.latency import verification_cost
    from evals.quality.dataset import load_questions
    from rag.llm.factory import build_chat_model

    seeds = Path(__file__).parents[2] / "evals/datasets/seeds.jsonl"
    question = next(q for q in load_questions(seeds) if q.id == "s01")
    model = build_chat_model(seed_settings.model_copy(update={"backend": "local"}))
    result = verification_cost(seed_settings, [question], model)
    with_llm, alone = result["llm_verifier"], result["deterministic_only"]
    assert with_llm["n"] == alone["n"] == 1
    assert with_llm["verification"]["median"] > alone["verification"]["median"] > 0  # the model's calls cost time
    assert result["ratio_total_p50"] == with_llm["total"]["median"] / alone["total"]["median"]
