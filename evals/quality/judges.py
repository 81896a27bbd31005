"""Faithfulness judges — does a piece of evidence support a claim? — and how well they judge.

Two judges score a :class:`JudgeItem` from 0 (unsupported) to 1 (supported):

* :class:`DeterministicJudge` — the answer-time scorer of :mod:`rag.answer.support`:
  ``combine(lexical_support(claim, unit, context), cosine(claim, unit))`` with
  MiniLM, maximised over the evidence and each of its sentences (the scorer was
  built for sentence-sized evidence). Supported when the score reaches
  ``settings.min_support``.
* :class:`LlmJudge` — the configured chat model is asked "Does the evidence
  support the claim? Answer Yes or No." and the score is P(Yes) from its first
  token's top log-probabilities (temperature 0, one token: deterministic).
  Supported when P(Yes) >= 0.5.

:func:`measure_judge` scores a judge against the labelled claims
(``evals/datasets/claims.jsonl``); :func:`cached_measurement` keeps the result in
a ``judges.json`` keyed by judge and model, recomputed when the judge, the
claims or the threshold change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from evals.quality.metrics import Confusion, best_threshold
from rag.answer.prompts import ENTAIL_QUESTION, ENTAIL_SYSTEM, entailment_messages
from rag.answer.support import LEXICAL_WEIGHT, LexicalSupport
from rag.errors import NoLogProbabilitiesError, RagError
from rag.llm.probability import TOP_LOGPROBS, choice_scorer
from rag.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from evals.quality.dataset import LabelledClaim

log = logging.getLogger(__name__)

JUDGE_SYSTEM = ENTAIL_SYSTEM  # the chain's verifier asks the model the same question
JUDGE_QUESTION = ENTAIL_QUESTION
LLM_THRESHOLD = 0.5
JUDGE_NAMES = ("deterministic", "llm", "verifier")


class JudgeUnavailable(RagError):
    """The judge cannot score anything (no model, or the server returns no log-probabilities)."""


@dataclass(frozen=True)
class JudgeItem:
    """A claim and the evidence that should support it.

    ``context`` is extra text where the claim's names may be found (article
    title, the passage around a quote); only the deterministic judge reads it.
    """

    claim: str
    evidence: str
    context: str = ""


class Judge(Protocol):
    name: str
    model: str
    threshold: float

    def fingerprint(self) -> str:
        """Changes whenever the judge's scores may change (code, prompt, model)."""
        ...

    def scores(self, items: Sequence[JudgeItem]) -> list[float | None]:
        """One score in 0..1 per item; None where this item could not be judged."""
        ...


def _scorer_source() -> str:
    """The code of the deterministic score (support and the text helpers it reads): a change re-scores cached items."""
    import rag.answer.support
    import rag.text

    return "".join(Path(module.__file__ or "").read_text(encoding="utf-8") for module in (rag.answer.support, rag.text))


def _sha(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- deterministic ----------------------------------------------------------------------


def weighted(lexical: LexicalSupport, semantic: float, weight: float) -> float:
    """``rag.answer.support.combine`` with another lexical weight (``LEXICAL_WEIGHT`` is the shipped one)."""
    from rag.answer.support import combine

    return combine(lexical, semantic, weight)


class DeterministicJudge:
    """rag.answer.support's lexical + MiniLM score, the same one that verifies citations at answer time."""

    name = "deterministic"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.threshold = settings.min_support
        model = settings.embedding_model or "all-MiniLM-L6-v2 (packaged)"
        self.model = f"rag.answer.support.combine + {model}"

    def fingerprint(self) -> str:
        return _sha(_scorer_source(), self.model)

    def components(self, items: Sequence[JudgeItem]) -> list[list[tuple[LexicalSupport, float]]]:
        """Per item, (lexical, cosine) for each unit of evidence: the whole, then each sentence."""
        from rag.answer.support import lexical_support
        from rag.embeddings import get_embedder
        from rag.ingest.chunking import split_sentences

        units: list[list[str]] = []
        for item in items:
            sentences = [item.evidence[s:e] for s, e in split_sentences(item.evidence)]
            units.append([item.evidence] + (sentences if len(sentences) > 1 else []))
        texts = sorted({item.claim for item in items} | {u for group in units for u in group})
        if not texts:
            return [[] for _ in items]
        embedder = get_embedder(self.settings.resolved_embedding_model(), self.settings.embedding_batch_size)
        vectors = dict(zip(texts, embedder.encode(texts), strict=True))
        out: list[list[tuple[LexicalSupport, float]]] = []
        for item, group in zip(items, units, strict=True):
            context = f"{item.context}\n{item.evidence}" if item.context else item.evidence
            claim_vector = vectors[item.claim]
            out.append(
                [(lexical_support(item.claim, u, context), float(vectors[u] @ claim_vector)) for u in group]
            )
        return out

    def scores(self, items: Sequence[JudgeItem]) -> list[float | None]:
        return list(self.scores_from(self.components(items)))

    @staticmethod
    def scores_from(components: Sequence[Sequence[tuple[LexicalSupport, float]]]) -> list[float]:
        """Each item's score: the best ``combine`` over its units of evidence."""
        from rag.answer.support import combine

        return [max((combine(lex, sem) for lex, sem in group), default=0.0) for group in components]


# --- LLM ------------------------------------------------------------------------------


def judge_messages(item: JudgeItem) -> list[BaseMessage]:
    return entailment_messages(item.evidence, item.claim)


def describe_model(model: BaseChatModel) -> str:
    """A stable name for a chat model: backend and model file or model name."""
    from rag.llm.local import ChatLlamaCpp

    if isinstance(model, ChatLlamaCpp):
        return f"local:{Path(model.model_path).name}"
    base = getattr(model, "openai_api_base", None)
    name = getattr(model, "model_name", None) or type(model).__name__
    return f"openai:{name}@{base}" if base else str(name)


class LlmJudge:
    """P(Yes) of the chat model asked whether the evidence supports the claim (``system``: the prompt it is
    asked under; the plain one by default, the chain verifier's for :class:`VerifierJudge`)."""

    name = "llm"
    threshold = LLM_THRESHOLD

    def __init__(self, model: BaseChatModel, system: str = JUDGE_SYSTEM) -> None:
        self._model = model
        self._system = system
        self.model = describe_model(model)
        self._scorer = choice_scorer(model, ("Yes", "No"))
        self._memo: dict[tuple[str, str], float | None] = {}
        self._succeeded = False

    def fingerprint(self) -> str:
        return _sha(self._system, JUDGE_QUESTION, str(TOP_LOGPROBS), self.model)

    def score(self, item: JudgeItem) -> float | None:
        key = (item.claim, item.evidence)
        if key in self._memo:
            return self._memo[key]
        try:
            value: float | None = float(self._scorer(entailment_messages(item.evidence, item.claim, self._system))["Yes"])
            self._succeeded = True
        except NoLogProbabilitiesError as exc:
            raise JudgeUnavailable(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - backend errors of any kind
            if not self._succeeded:
                raise JudgeUnavailable(f"the LLM judge ({self.model}) failed: {_one_line(exc)}") from exc
            log.warning("LLM judge could not score a claim: %s", _one_line(exc))
            value = None
        self._memo[key] = value
        return value

    def scores(self, items: Sequence[JudgeItem]) -> list[float | None]:
        return [self.score(item) for item in items]


class VerifierJudge:
    """The chain's verifier (generate strategy): the model asked with the verifier's prompt (worked examples of
    invented relations), vetoed to 0 when the claim states a number the evidence does not, gives one of its
    sums another role, states as done what the evidence only expects, or states a cause or a certainty the
    evidence does not (:func:`rag.answer.support.vetoed`),
    when the model, asked to fill a number of the claim from the evidence, gives another number
    (:func:`rag.answer.cloze.moved_number`), and when it finds two of the claim's names or numbers more likely
    exchanged (:func:`rag.answer.roles.swapped_roles`): :func:`rag.answer.verifier.checked_entailment`."""

    name = "verifier"
    threshold = LLM_THRESHOLD

    def __init__(self, model: BaseChatModel) -> None:
        from rag.answer.prompts import VERIFY_SYSTEM

        self._llm = LlmJudge(model, VERIFY_SYSTEM)
        self._chat = model
        self.model = f"{self._llm.model} + verifier prompt + number veto + number cloze + role swap"

    def fingerprint(self) -> str:
        import rag.answer.cloze
        import rag.answer.roles
        import rag.answer.verifier

        sources = [Path(module.__file__ or "").read_text(encoding="utf-8")
                   for module in (rag.answer.cloze, rag.answer.roles, rag.answer.verifier)]
        return _sha(self._llm.fingerprint(), _scorer_source(), *sources)

    def score(self, item: JudgeItem) -> float | None:
        from rag.answer.cloze import CLOZE_TOKENS
        from rag.answer.support import lexical_support, vetoed
        from rag.answer.verifier import checked_entailment
        from rag.llm.probability import ask_model, text_scorer

        context = f"{item.context}\n{item.evidence}" if item.context else item.evidence
        if vetoed(lexical_support(item.claim, item.evidence, context)):
            return 0.0
        p_yes = self._llm.score(item)
        if p_yes is None:
            return None
        ask, logprob = ask_model(self._chat, CLOZE_TOKENS), text_scorer(self._chat)
        return checked_entailment(p_yes, item.claim, item.evidence, ask, logprob)  # as the chain

    def scores(self, items: Sequence[JudgeItem]) -> list[float | None]:
        return [self.score(item) for item in items]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def build_judges(names: Sequence[str], settings: Settings, chat_model: BaseChatModel | None) -> list[Judge]:
    """Judges by name; the LLM judge needs a chat model (the local or openai backend)."""
    judges: list[Judge] = []
    for name in names:
        if name == "deterministic":
            judges.append(DeterministicJudge(settings))
        elif name == "llm":
            if chat_model is None:
                raise RagError(
                    "The llm judge needs a language model: use --backend local or openai, or --judge deterministic."
                )
            judges.append(LlmJudge(chat_model))
        elif name == "verifier":
            if chat_model is None:
                raise RagError("The verifier judge needs a language model: use --backend local or openai.")
            judges.append(VerifierJudge(chat_model))
        else:
            raise RagError(f"Unknown judge {name!r}: choose from {', '.join(JUDGE_NAMES)}.")
    return judges


# --- measuring a judge on labelled claims ---------------------------------------------------


def _rounded(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def confusion_summary(conf: Confusion) -> dict[str, Any]:
    """Balanced accuracy and the rest, with "supported" as the positive class."""
    return {
        "n": conf.n,
        "balanced_accuracy": _rounded(conf.balanced_accuracy),
        "accuracy": _rounded(conf.accuracy),
        "precision_supported": _rounded(conf.precision),
        "recall_supported": _rounded(conf.recall),
        "specificity": _rounded(conf.specificity),
        "confusion": {"tp": conf.tp, "fp": conf.fp, "fn": conf.fn, "tn": conf.tn},
    }


def per_kind_accuracy(claims: Sequence[LabelledClaim], predictions: Sequence[bool | None]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for claim, predicted in zip(claims, predictions, strict=True):
        if predicted is not None:
            groups[claim.kind].append(predicted == claim.supported)
    return {
        kind: {"n": len(hits), "correct": sum(hits), "accuracy": round(sum(hits) / len(hits), 4)}
        for kind, hits in sorted(groups.items())
    }


def measure_judge(judge: Judge, claims: Sequence[LabelledClaim], progress: bool = False) -> dict[str, Any]:
    """How well ``judge`` separates supported from unsupported claims."""
    started = time.perf_counter()
    items = [JudgeItem(c.claim, c.passage) for c in claims]
    components = None
    scores: list[float | None]
    if isinstance(judge, DeterministicJudge):
        components = judge.components(items)
        scores = list(judge.scores_from(components))
    elif isinstance(judge, (LlmJudge, VerifierJudge)) and progress:
        from tqdm import tqdm

        scores = [judge.score(item) for item in tqdm(items, desc=f"judge {judge.name}", unit="claim")]
    else:
        scores = judge.scores(items)
    predictions = [None if s is None else s >= judge.threshold for s in scores]
    decided = [(c.supported, p) for c, p in zip(claims, predictions, strict=True) if p is not None]
    result: dict[str, Any] = {
        "judge": judge.name,
        "model": judge.model,
        "fingerprint": judge.fingerprint(),
        "threshold": judge.threshold,
        "undecided": sum(p is None for p in predictions),
        **confusion_summary(Confusion.of(decided)),
        "per_kind": per_kind_accuracy(claims, predictions),
    }
    labelled = [(c.supported, s) for c, s in zip(claims, scores, strict=True) if s is not None]
    if labelled:
        threshold, ba = best_threshold([lab for lab, _ in labelled], [s for _, s in labelled])
        result["best_threshold"] = {"threshold": round(threshold, 4), "balanced_accuracy": round(ba, 4)}
    if components is not None:
        result["weighting"] = weighting_sweep(claims, components, judge.threshold)
    result["scores"] = {c.id: _rounded(s) for c, s in zip(claims, scores, strict=True)}
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def weighting_sweep(
    claims: Sequence[LabelledClaim],
    components: Sequence[Sequence[tuple[LexicalSupport, float]]],
    threshold: float,
    folds: int = 5,
) -> dict[str, Any]:
    """Other lexical weights in ``combine``: in-sample balanced accuracy, and a cross-validated estimate.

    ``components`` are :meth:`DeterministicJudge.components` of the claims.
    In-sample: for each weight, the balanced accuracy at ``threshold``
    and at the best threshold. Cross-validated: weight and threshold chosen on
    4/5 of the claims and scored on the held-out fifth, claims of one passage
    kept in one fold (so the estimate is not flattered by near-duplicate claims).
    """
    labels = [c.supported for c in claims]
    weights = [round(w * 0.05, 2) for w in range(21)]

    def scores_for(weight: float, idx: Sequence[int]) -> list[float]:
        return [max((weighted(lex, sem, weight) for lex, sem in components[i]), default=0.0) for i in idx]

    everyone = range(len(claims))
    sweep = []
    for weight in weights:
        scores = scores_for(weight, everyone)
        at_threshold = Confusion.of(zip(labels, (s >= threshold for s in scores), strict=True))
        best_t, best_ba = best_threshold(labels, scores)
        sweep.append({
            "weight": weight,
            "balanced_accuracy_at_threshold": _rounded(at_threshold.balanced_accuracy),
            "best_threshold": round(best_t, 4),
            "balanced_accuracy_at_best": round(best_ba, 4),
        })

    passages = sorted({c.passage for c in claims}, key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    fold_of_passage = {p: i % folds for i, p in enumerate(passages)}
    fold = [fold_of_passage[c.passage] for c in claims]
    held_out: list[tuple[bool, bool]] = []
    shipped: list[tuple[bool, bool]] = []
    for f in range(folds):
        train = [i for i in everyone if fold[i] != f]
        test = [i for i in everyone if fold[i] == f]
        if not train or not test:
            continue
        best: tuple[float, float, float] | None = None
        for weight in weights:
            t, ba = best_threshold([labels[i] for i in train], scores_for(weight, train))
            if best is None or (round(ba, 9), -abs(weight - LEXICAL_WEIGHT)) > (round(best[0], 9), -abs(best[1] - LEXICAL_WEIGHT)):
                best = (ba, weight, t)
        assert best is not None
        _, weight, t = best
        held_out += [(labels[i], s >= t) for i, s in zip(test, scores_for(weight, test), strict=True)]
        shipped += [(labels[i], s >= threshold) for i, s in zip(test, scores_for(LEXICAL_WEIGHT, test), strict=True)]
    return {
        "shipped_weight": LEXICAL_WEIGHT,
        "sweep": sweep,
        "cross_validated": {
            "folds": folds,
            "tuned_balanced_accuracy": _rounded(Confusion.of(held_out).balanced_accuracy),
            "shipped_balanced_accuracy": _rounded(Confusion.of(shipped).balanced_accuracy),
        },
    }


# --- the judges.json cache -----------------------------------------------------------------


def cache_key(judge: Judge) -> str:
    return f"{judge.name}|{judge.model}"


def cached_measurement(
    judge: Judge, claims_path: Path, cache_path: Path | None, progress: bool = False, split: str | None = None
) -> dict[str, Any]:
    """The judge's measurement on ``claims_path`` (only its ``split`` half when given), from ``cache_path`` when
    still valid, else measured and stored."""
    from evals.quality.dataset import load_claims

    claims_sha = file_sha256(claims_path)
    data: dict[str, Any] = {"judges": {}}
    if cache_path is not None and cache_path.is_file():
        try:
            data = json.loads(cache_path.read_text(encoding="utf-8"))
            data.setdefault("judges", {})
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable judges cache %s: %s", cache_path, exc)
            data = {"judges": {}}
    key = cache_key(judge) + (f"|{split}" if split else "")
    entry = data["judges"].get(key)
    if (
        isinstance(entry, dict)
        and entry.get("fingerprint") == judge.fingerprint()
        and entry.get("claims_sha256") == claims_sha
        and entry.get("threshold") == judge.threshold
    ):
        log.info("judge %s: using the measurement cached in %s", key, cache_path)
        return entry
    try:
        claims = load_claims(claims_path)
    except ValueError as exc:
        raise RagError(str(exc)) from None
    except OSError as exc:
        raise RagError(f"Cannot read the claims file {claims_path}: {exc.strerror or exc}") from None
    if split is not None:
        claims = [c for c in claims if c.split == split]
    log.info("judge %s: measuring on %d claims", key, len(claims))
    entry = measure_judge(judge, claims, progress=progress)
    entry["split"] = split
    entry["claims_path"] = str(claims_path)
    entry["claims_sha256"] = claims_sha
    entry["measured"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if cache_path is not None:
        data["judges"][key] = entry
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return entry
