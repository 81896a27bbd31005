"""Run a question set through the answering chain and score every answer.

:func:`run_eval` is the whole of ``rag eval`` minus the rendering: it builds the
index if there is none, asks every question (with its history) in dataset
order, then scores in fixed phases — correctness, then each judge — so that
two runs with the same settings make the same model calls in the same order
and produce the same numbers (latencies aside). The result is the dict written
to ``report.json``; its definitions live in :mod:`evals.quality.metrics`.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.quality import metrics
from evals.quality.funnel import aggregate_funnel, question_funnel
from evals.quality.judges import (
    Judge,
    JudgeItem,
    JudgeUnavailable,
    LlmJudge,
    build_judges,
    cached_measurement,
    file_sha256,
)
from rag.errors import RagError
from rag.settings import Settings
from rag.text import plain_answer

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from evals.quality.dataset import EvalQuestion
    from rag.answer.chain import RagChain
    from rag.types import Answer, RetrievedPassage

log = logging.getLogger(__name__)

REPORT_SCHEMA = 1
CORRECT_MIN_KEY_FACT_RECALL = 0.5
"""An answered answerable question counts as "correct" when it conveys at least half its key facts."""
LATENCY_STAGES = ("retrieval", "evidence", "first_token", "gate", "check", "verification", "total")
_VERSIONED = (
    "newsrag", "langchain-core", "langchain-openai", "sentence-transformers", "torch", "chromadb", "bm25s",
    "xllamacpp", "PyStemmer", "numpy", "pydantic",
)


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how, besides the :class:`Settings`."""

    dataset: Path
    judges: tuple[str, ...] = ("deterministic",)
    claims: Path | None = None  # labelled claims that measure the judges (None: do not measure)
    judges_cache: Path | None = None
    limit: int | None = None
    split: str | None = None  # "dev" or "test": only that half of the dataset
    progress: bool = True


@dataclass
class Answered:
    """One question and what the chain made of it."""

    question: EvalQuestion
    answer: Answer | None
    error: str | None = None


@dataclass
class EvalRun:
    report: dict[str, Any]
    answered: list[Answered] = field(default_factory=list)


# --- inputs ------------------------------------------------------------------------------


def load_dataset(path: Path, limit: int | None = None, split: str | None = None) -> list[EvalQuestion]:
    """The questions of a dataset file (only those of ``split`` when given); a bad file is a one-line RagError."""
    return load_dataset_with_notes(path, limit, split)[0]


def load_dataset_with_notes(
    path: Path, limit: int | None = None, split: str | None = None
) -> tuple[list[EvalQuestion], list[str]]:
    """As :func:`load_dataset`, plus the names of the file's columns that were ignored (for the report)."""
    from evals.quality.dataset import load_questions_with_notes

    try:
        questions, ignored = load_questions_with_notes(Path(path))
    except ValueError as exc:
        raise RagError(str(exc)) from None
    except OSError as exc:
        raise RagError(f"Cannot read the dataset {path}: {exc.strerror or exc}") from None
    if split is not None:
        questions = [q for q in questions if q.split == split]
    if not questions:
        raise RagError(f"The dataset {path} holds no questions" + (f" in the {split!r} split." if split else "."))
    return (questions[:limit] if limit else questions), ignored


def prepare_chain(settings: Settings) -> tuple[RagChain, BaseChatModel | None]:
    """The chain with its model loaded and its indexes warm, so latencies measure answering only.

    A backend that cannot load fails the run here rather than letting every answer
    silently fall back to extractive mode.
    """
    from rag.answer.chain import build_chain
    from rag.answer.retrieve import get_search

    chat_model: BaseChatModel | None = None
    if settings.backend != "extractive":
        from rag.llm.factory import build_chat_model, check_backend

        chat_model = build_chat_model(settings)
        check_backend(chat_model)
    get_search(settings).search("warm up", 1)
    return build_chain(settings, chat_model), chat_model


def ask_all(chain: RagChain, questions: Sequence[EvalQuestion], progress: bool = True) -> list[Answered]:
    """Every question through the chain, in order; a question the chain rejects is recorded, not fatal."""
    from tqdm import tqdm

    answered: list[Answered] = []
    for q in tqdm(questions, desc="questions", unit="q", disable=not progress, file=sys.stderr):
        try:
            answer = chain.invoke({"question": q.question, "chat_history": [tuple(t) for t in q.history]})
        except RagError as exc:
            log.warning("question %s failed: %s", q.id, exc)
            answered.append(Answered(q, None, str(exc)))
            continue
        answered.append(Answered(q, answer))
    return answered


# --- scoring: correctness ---------------------------------------------------------------------


def score_correctness(answered: Sequence[Answered], settings: Settings) -> dict[str, dict[str, Any]]:
    """Key facts, semantic similarity, token F1 and correctness of each answered answerable question.

    A refused answerable question conveys nothing: every component is 0.
    """
    from rag.embeddings import get_embedder

    todo = [a for a in answered if a.answer is not None and a.question.answerable]
    texts = {a.question.id: plain_answer(a.answer.answer) for a in todo if a.answer and not a.answer.refused}
    references = {a.question.id: a.question.reference_answer for a in todo if a.question.id in texts}
    similarity: dict[str, float] = {}
    if texts:
        embedder = get_embedder(settings.resolved_embedding_model(), settings.embedding_batch_size)
        vectors = embedder.encode([t for qid in texts for t in (texts[qid], references[qid])])
        similarity = {qid: float(vectors[2 * i] @ vectors[2 * i + 1]) for i, qid in enumerate(texts)}
    out: dict[str, dict[str, Any]] = {}
    for a in todo:
        q = a.question
        text = texts.get(q.id)
        facts = [
            {"fact": metrics.fact_label(fact), "share": round(metrics.key_fact_share(fact, text), 4) if text else 0.0,
             "conveyed": bool(text) and metrics.fact_conveyed(fact, text)}
            for fact in q.key_facts
        ]
        kf = metrics.key_fact_recall(q.key_facts, text) if text is not None else (0.0 if q.key_facts else None)
        sim = max(0.0, similarity[q.id]) if text is not None else 0.0
        out[q.id] = {
            "key_fact_recall": _r(kf),
            "key_facts": facts,
            "semantic_similarity": _r(sim),
            "token_f1": _r(metrics.token_f1(text, q.reference_answer) if text is not None else 0.0),
            "correctness": _r(metrics.correctness(kf, sim) if text is not None else 0.0),
        }
    return out


# --- scoring: faithfulness --------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimEvidence:
    """An answer sentence, the passages it cites (for faithfulness) and each cited quote (for citations).

    ``inherited`` marks a sentence without a marker of its own that is covered by
    the next marker in the answer (see :func:`claim_evidence`).
    """

    text: str
    markers: tuple[int, ...]
    passages: JudgeItem | None
    quotes: tuple[tuple[int, JudgeItem], ...]
    inherited: bool = False


def claim_evidence(answer: Answer) -> list[ClaimEvidence]:
    """The answer split with ``rag.answer.citations.parse_claims``, each sentence with the evidence it cites.

    A marker covers the run of unmarked sentences before it, as a citation at the
    end of a paragraph does: a quote of several sentences is cited once, after
    its last sentence. Sentences after the last marker cite nothing; sentences
    without content words are skipped.
    """
    from rag.answer.citations import parse_claims
    from rag.text import terms

    by_marker = {c.marker: c for c in answer.citations}
    passages = {p.passage_id: p for p in answer.passages}
    claims = [(claim.text, tuple(m for m in claim.cited if m in by_marker)) for claim in parse_claims(answer.answer)]
    covered: list[tuple[tuple[int, ...], bool]] = []
    following: tuple[int, ...] = ()
    for _, own in reversed(claims):
        following = own or following
        covered.append((following, not own and bool(following)))
    covered.reverse()

    out: list[ClaimEvidence] = []
    for (text, _), (markers, inherited) in zip(claims, covered, strict=True):
        if not terms(text).content:
            continue
        cited = [by_marker[m] for m in markers]
        around = {c.marker: passages[c.passage_id].text if c.passage_id in passages else c.quote for c in cited}
        texts = dict.fromkeys(around[c.marker] for c in cited)  # the cited passages, each once, in citation order
        titles = dict.fromkeys(c.title for c in cited)
        whole = JudgeItem(text, "\n".join(texts), "\n".join(titles)) if cited else None
        quotes = tuple((c.marker, JudgeItem(text, c.quote, f"{c.title}\n{around[c.marker]}")) for c in cited)
        out.append(ClaimEvidence(text, markers, whole, quotes, inherited))
    return out


def _score_items(judge: Judge, items: Sequence[JudgeItem], progress: bool) -> list[float | None]:
    if isinstance(judge, LlmJudge) and progress and items:
        from tqdm import tqdm

        return [judge.score(item) for item in tqdm(items, desc=f"judge {judge.name}", unit="claim", file=sys.stderr)]
    return judge.scores(items)


def judge_answers(
    judge: Judge, evidence: dict[str, list[ClaimEvidence]], progress: bool = False
) -> dict[str, dict[str, Any]]:
    """Per question: each sentence's support by its cited passages and by each cited quote, per ``judge``."""
    items: list[JudgeItem] = []
    for claims in evidence.values():
        for claim in claims:
            if claim.passages is not None:
                items.append(claim.passages)
            items.extend(item for _, item in claim.quotes)
    scores = iter(_score_items(judge, items, progress))

    def verdict(score: float | None) -> bool | None:
        return None if score is None else score >= judge.threshold

    out: dict[str, dict[str, Any]] = {}
    for qid, claims in evidence.items():
        rows = []
        for claim in claims:
            score = next(scores) if claim.passages is not None else 0.0
            citations = []
            for marker, _ in claim.quotes:
                s = next(scores)
                citations.append({"marker": marker, "score": _r(s), "supports": verdict(s)})
            rows.append({
                "text": claim.text,
                "markers": list(claim.markers),
                "marker_from_next_sentence": claim.inherited,
                "score": _r(score),
                "supported": verdict(score),
                "citations": citations,
                "has_supporting_citation": any(c["supports"] for c in citations),
            })
        decided = [row["supported"] for row in rows if row["supported"] is not None]
        out[qid] = {"faithfulness": _r(metrics.share(decided)), "claims": rows}
    return out


# --- per question -----------------------------------------------------------------------------


def _outcome(q: EvalQuestion, answer: Answer | None, correctness: dict[str, Any] | None) -> str:
    if answer is None:
        return "error"
    if not q.answerable:
        return "correct_refusal" if answer.refused else "false_answer"
    if answer.refused:
        return "false_refusal"
    assert correctness is not None
    kf = correctness["key_fact_recall"]
    good = kf >= CORRECT_MIN_KEY_FACT_RECALL if kf is not None else correctness["semantic_similarity"] >= 0.5
    return "correct" if good else "incomplete"


def question_record(
    a: Answered,
    correctness: dict[str, Any] | None,
    faithfulness: dict[str, dict[str, Any]],
    backend: str,
) -> dict[str, Any]:
    q, answer = a.question, a.answer
    record: dict[str, Any] = {
        "id": q.id,
        "question": q.question,
        "history": [list(turn) for turn in q.history],
        "answerable": q.answerable,
        "reference": q.reference_answer,
        "sources": list(q.sources),
        "error": a.error,
    }
    if answer is None:
        record.update(outcome="error", failures=[f"error: {a.error}"], severity=3.0)
        return record
    record.update({
        "standalone_question": answer.standalone_question,
        "answer": answer.answer,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "backend_used": answer.backend,
        "notice": answer.notice,
        "citations": [
            {"marker": c.marker, "source": c.source, "title": c.title, "quote": c.quote, "support": c.support}
            for c in answer.citations
        ],
        "dropped_sentences": list(answer.dropped_sentences),
        "retrieved": [
            {"source": p.source, "passage_id": p.passage_id, "relevance": round(p.relevance, 4)}
            for p in answer.passages
        ],
        "retrieval": retrieval_scores(q, answer.passages) if q.answerable else None,
        "correctness": correctness,
        "faithfulness": faithfulness,
        "latency": {stage: answer.timings[stage] for stage in LATENCY_STAGES if stage in answer.timings},
        "strategy": answer.strategy,
        "refused_at": answer.refused_at,
        "confidence": answer.confidence,
        "signals": answer.signals,
        "short_answer": answer.short_answer,  # the phrase the select gate copied: what the answer checks read
        "funnel": question_funnel(q, answer),
    })
    record["outcome"] = _outcome(q, answer, correctness)
    record["failures"], record["severity"] = _failures(record, backend)
    return record


def retrieval_scores(q: EvalQuestion, passages: Sequence[RetrievedPassage]) -> dict[str, Any] | None:
    """recall@k, reciprocal rank and what was missed: by ``sources``, else by ``reference_contexts``, else None."""
    if q.sources:
        found = [(p.source, p.article_id) for p in passages]
        return {
            "matched_by": "sources",
            "recall_at_k": _r(metrics.recall_at_k(q.sources, found)),
            "reciprocal_rank": _r(metrics.reciprocal_rank(q.sources, found)),
            "missing_sources": metrics.missing_sources(q.sources, found),
        }
    if q.reference_contexts:
        texts = [p.text for p in passages]
        return {
            "matched_by": "reference_contexts",
            "recall_at_k": _r(metrics.context_recall(q.reference_contexts, texts)),
            "reciprocal_rank": _r(metrics.context_reciprocal_rank(q.reference_contexts, texts)),
            "missing_sources": [],
            "missing_contexts": [_clip(c) for c in metrics.missing_contexts(q.reference_contexts, texts)],
        }
    return None


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failures(record: dict[str, Any], backend: str) -> tuple[list[str], float]:
    """What went wrong with one answer, in words, and how bad it is (for ranking the worst cases)."""
    failures: list[str] = []
    severity = 0.0
    outcome = record["outcome"]
    if outcome == "false_refusal":
        failures.append(f"refused an answerable question ({record['refusal_reason']})")
        severity += 2
    elif outcome == "false_answer":
        failures.append("answered a question the articles do not answer")
        severity += 2
    if record["backend_used"] != backend:
        failures.append(f"answered by the {record['backend_used']} fallback: {record['notice']}")
        severity += 1
    retrieval = record["retrieval"]
    if retrieval and retrieval["missing_sources"]:
        failures.append(f"expected source(s) not retrieved: {', '.join(retrieval['missing_sources'])}")
        severity += 1 - retrieval["recall_at_k"]
    if retrieval and retrieval.get("missing_contexts"):
        failures.append("reference context(s) not in any retrieved passage: "
                        + " | ".join(f"'{c}'" for c in retrieval["missing_contexts"]))
        severity += 1 - retrieval["recall_at_k"]
    correctness = record["correctness"]
    if correctness and not record["refused"]:
        missing = [f["fact"] for f in correctness["key_facts"] if not f["conveyed"]]
        if missing:
            failures.append("key facts not conveyed: " + "; ".join(f"'{m}'" for m in missing))
        severity += 1 - correctness["correctness"]
    for judge, result in sorted(record["faithfulness"].items()):
        bad = [c for c in result["claims"] if c["supported"] is False]
        if bad:
            failures.append(
                f"{len(bad)} of {len(result['claims'])} sentences unsupported by their cited passages ({judge} judge): "
                + " | ".join(c["text"] for c in bad)
            )
            severity += len(bad) / len(result["claims"])
    any_judge = next(iter(record["faithfulness"].values()), None)
    uncited = [c for c in any_judge["claims"] if not c["markers"]] if any_judge else []
    if uncited:
        failures.append(f"{len(uncited)} sentence(s) without a citation")
    if record["dropped_sentences"]:
        failures.append(f"{len(record['dropped_sentences'])} generated sentence(s) dropped by citation verification: "
                        + " | ".join(record["dropped_sentences"]))
    return failures, round(severity, 4)


# --- aggregates ---------------------------------------------------------------------------------


def _r(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def _stats(values: Iterable[float]) -> dict[str, Any]:
    items = list(values)
    return {"n": len(items), "median": _r(metrics.median(items)), "p95": _r(metrics.percentile(items, 95))}


def aggregate(records: Sequence[dict[str, Any]], judges: Sequence[str], backend: str) -> dict[str, Any]:
    ok = [r for r in records if r["outcome"] != "error"]
    answerable = [r for r in ok if r["answerable"]]
    with_sources = [r for r in answerable if r["retrieval"] is not None]
    refusal = metrics.refusal_confusion((r["answerable"], r["refused"]) for r in ok)
    out: dict[str, Any] = {
        "questions": {
            "total": len(records),
            "answerable": sum(r["answerable"] for r in records),
            "unanswerable": sum(not r["answerable"] for r in records),
            "errors": len(records) - len(ok),
            "refused": sum(r["refused"] for r in ok),
            "fallbacks": sum(r["backend_used"] != backend for r in ok),
            "with_history": sum(bool(r["history"]) for r in records),
        },
        "retrieval": {
            "n": len(with_sources),
            "recall_at_k": _r(metrics.mean(r["retrieval"]["recall_at_k"] for r in with_sources)),
            "mrr": _r(metrics.mean(r["retrieval"]["reciprocal_rank"] for r in with_sources)),
        },
        "correctness": {
            "n": len(answerable),
            **{
                name: _r(metrics.mean(r["correctness"][name] for r in answerable if r["correctness"][name] is not None))
                for name in ("correctness", "key_fact_recall", "semantic_similarity", "token_f1")
            },
            "correct": sum(r["outcome"] == "correct" for r in answerable),
        },
        "refusal": {
            "precision": _r(refusal.precision),
            "recall": _r(refusal.recall),
            "f1": _r(refusal.f1),
            "false_refusals": refusal.fp,
            "false_answers": refusal.fn,
            "correct_refusals": refusal.tp,
            "false_refusal_rate": _r(refusal.fp / len(answerable)) if answerable else None,
        },
        "faithfulness": {},
        "dropped_sentences": sum(len(r["dropped_sentences"]) for r in ok),
        "funnel": aggregate_funnel(ok),
        "latency": {
            stage: _stats(r["latency"][stage] for r in ok if stage in r["latency"]) for stage in LATENCY_STAGES
        },
    }
    answered = [r for r in ok if not r["refused"]]
    out["judge_disagreements"] = disagreements(answered, judges)
    for judge in judges:
        results = [r["faithfulness"][judge] for r in answered if judge in r["faithfulness"]]
        if not results:
            out["faithfulness"][judge] = None
            continue
        claims = [c for res in results for c in res["claims"]]
        decided = [c for c in claims if c["supported"] is not None]
        citations = [cit for c in claims for cit in c["citations"] if cit["supports"] is not None]
        out["faithfulness"][judge] = {
            "answers": sum(res["faithfulness"] is not None for res in results),
            "faithfulness": _r(metrics.mean(res["faithfulness"] for res in results if res["faithfulness"] is not None)),
            "claims": len(decided),
            "supported_claims": sum(c["supported"] for c in decided),
            "faithfulness_pooled": _r(metrics.share(c["supported"] for c in decided)),
            "unfaithful_answers": sum(any(c["supported"] is False for c in res["claims"]) for res in results),
            "citations": len(citations),
            "citation_precision": _r(metrics.share(cit["supports"] for cit in citations)),
            "citation_recall": _r(metrics.share(c["has_supporting_citation"] for c in claims)),
            "uncited_claims": sum(not c["markers"] for c in claims),
            "claims_covered_by_next_marker": sum(c.get("marker_from_next_sentence", False) for c in claims),
            "undecided": len(claims) - len(decided),
            "refusals_excluded": sum(r["refused"] for r in ok),
        }
    return out


def disagreements(records: Sequence[dict[str, Any]], judges: Sequence[str], examples: int = 5) -> list[dict[str, Any]]:
    """For each pair of judges, the answer sentences they both decided and those where their verdicts differ."""
    out = []
    for i, a in enumerate(judges):
        for b in judges[i + 1 :]:
            both = differ = 0
            shown: list[dict[str, Any]] = []
            for r in records:
                fa, fb = r["faithfulness"].get(a), r["faithfulness"].get(b)
                if not fa or not fb:
                    continue
                for ca, cb in zip(fa["claims"], fb["claims"], strict=True):
                    if ca["supported"] is None or cb["supported"] is None:
                        continue
                    both += 1
                    if ca["supported"] != cb["supported"]:
                        differ += 1
                        if len(shown) < examples:
                            shown.append({"id": r["id"], "text": ca["text"], a: ca["score"], b: cb["score"]})
            out.append({"judges": [a, b], "claims": both, "disagree": differ, "examples": shown})
    return out


# --- metadata ------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def code_info() -> dict[str, Any]:
    """What code produced the numbers: a hash of the sources that shape them, and the git commit if any."""
    import hashlib
    import subprocess

    import rag

    root = Path(rag.__file__).resolve().parent.parent
    digest = hashlib.sha256()
    scoring = [root / "evals" / "quality" / f"{name}.py" for name in ("dataset", "metrics", "judges", "runner", "funnel")]
    for path in sorted([*root.glob("rag/**/*.py"), *scoring]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    info: dict[str, Any] = {"sources_sha256": digest.hexdigest()[:16], "commit": None, "uncommitted_changes": None}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        status = subprocess.run(["git", "status", "--porcelain", "--", "rag", "evals"], cwd=root,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return info
    if head.returncode == 0:
        info["commit"] = head.stdout.strip()
        info["uncommitted_changes"] = bool(status.stdout.strip())
    return info


def model_info(settings: Settings, chat_model: BaseChatModel | None) -> dict[str, Any]:
    info: dict[str, Any] = {"backend": settings.backend, "strategy": settings.strategy(),
                            "temperature": settings.temperature}
    if chat_model is None:
        return info
    from rag.llm.local import ChatLlamaCpp
    from rag.llm.model_files import PACKAGED_MODELS

    if isinstance(chat_model, ChatLlamaCpp):
        path = Path(chat_model.model_path)
        spec = next((s for s in PACKAGED_MODELS.values() if s.filename == path.name), None)
        info.update(
            model=chat_model.model_name, file=path.name, size=path.stat().st_size if path.exists() else None,
            sha256=spec.sha256 if spec and path.exists() and path.stat().st_size == spec.size else None,
            n_ctx=chat_model.n_ctx, threads=chat_model.n_threads,
        )
    else:
        info.update(model=settings.openai_model, base_url=settings.openai_base_url)
    return info


def index_info(settings: Settings) -> dict[str, Any]:
    from rag.index.handle import Index

    status = Index.open(settings).status()
    return {k: status[k] for k in ("index", "corpus", "articles", "passages", "vectors", "fingerprint") if k in status}


# --- the whole run -------------------------------------------------------------------------------


def run_eval(settings: Settings, config: EvalConfig) -> EvalRun:
    """Answer and score every question of ``config.dataset``; returns the report dict and the answers."""
    started = time.perf_counter()
    questions, ignored_columns = load_dataset_with_notes(config.dataset, config.limit, config.split)
    from rag.index.build import ensure_index
    from rag.index.handle import Index

    if not Index.exists(settings):
        log.warning("no index at %s: building it from %s", settings.index_dir, settings.corpus_dir)
    built = ensure_index(settings, progress=config.progress)
    if built is not None:
        log.warning("%s", built.summary())
    chain, chat_model = prepare_chain(settings)
    judges = build_judges(config.judges, settings, chat_model)

    answered = ask_all(chain, questions, config.progress)
    correctness = score_correctness(answered, settings)
    evidence = {
        a.question.id: claim_evidence(a.answer) for a in answered if a.answer is not None and not a.answer.refused
    }

    judge_status: dict[str, dict[str, Any]] = {}
    faithfulness: dict[str, dict[str, dict[str, Any]]] = {}
    for judge in judges:
        status: dict[str, Any] = {"model": judge.model, "threshold": judge.threshold}
        try:
            faithfulness[judge.name] = judge_answers(judge, evidence, config.progress)
            status["status"] = "ok"
        except JudgeUnavailable as exc:
            log.warning("%s judge unavailable: %s", judge.name, exc)
            judge_status[judge.name] = {**status, "status": "unavailable", "reason": str(exc)}
            continue
        if config.claims is not None:
            try:
                measured = cached_measurement(judge, config.claims, config.judges_cache, config.progress)
                status["claims"] = {k: v for k, v in measured.items() if k != "scores"}
            except JudgeUnavailable as exc:
                status["claims"] = {"status": "unavailable", "reason": str(exc)}
        judge_status[judge.name] = status

    used = [j.name for j in judges if judge_status[j.name]["status"] == "ok"]
    records = [
        question_record(
            a,
            correctness.get(a.question.id),
            {name: faithfulness[name][a.question.id] for name in used if a.question.id in faithfulness[name]},
            settings.backend,
        )
        for a in answered
    ]
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dataset": {
            "path": str(config.dataset),
            "sha256": file_sha256(config.dataset),
            "questions": len(questions),
            "limit": config.limit,
            "split": config.split,
            "ignored_columns": ignored_columns,
        },
        "settings": settings.model_dump(mode="json"),
        "model": model_info(settings, chat_model),
        "index": index_info(settings),
        "versions": versions(),
        "code": code_info(),
        "definitions": {"correct_min_key_fact_recall": CORRECT_MIN_KEY_FACT_RECALL,
                        "key_fact_min_share": metrics.KEY_FACT_MIN_SHARE},
        "judges": judge_status,
        "primary_judge": next((name for name in ("deterministic", "llm") if name in used), None),
        "aggregates": aggregate(records, used, settings.backend),
        "questions": records,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return EvalRun(report, answered)


def measure_judges(settings: Settings, names: Sequence[str], claims: Path, cache: Path | None,
                   progress: bool = True, split: str | None = None) -> dict[str, dict[str, Any]]:
    """``rag eval judges``: each judge's measurement on the labelled claims (cached in ``cache``)."""
    chat_model = None
    if "llm" in names or "verifier" in names:
        from rag.llm.factory import build_chat_model, check_backend

        if settings.backend == "extractive":
            raise RagError("The llm and verifier judges need a language model: use --backend local or openai.")
        chat_model = build_chat_model(settings)
        check_backend(chat_model)
    results: dict[str, dict[str, Any]] = {}
    for judge in build_judges(names, settings, chat_model):
        try:
            results[judge.name] = cached_measurement(judge, claims, cache, progress, split)
        except JudgeUnavailable as exc:
            results[judge.name] = {"judge": judge.name, "model": judge.model, "status": "unavailable",
                                   "reason": str(exc)}
    return results
