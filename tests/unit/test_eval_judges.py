"""The faithfulness judges: prompt and log-probability plumbing, the judges.json cache, and measured accuracy."""


from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from evals.quality.judges import (
    JUDGE_QUESTION,
    JudgeItem,
    build_judges,
    cached_measurement,
    judge_messages,
)
from rag.errors import RagError
from rag.llm.probability import first_token_logprobs
from rag.settings import Settings


def test_judge_prompt_asks_yes_or_no() -> None:
    system, user = judge_messages(JudgeItem("The sky is green.", "The sky\nis blue."))
    assert "evidence" in system.content.lower()
    assert user.content.endswith(JUDGE_QUESTION)
    assert "Evidence:\nThe sky is blue." in user.content and "Claim: The sky is green." in user.content


def test_openai_logprobs_are_read_from_response_metadata() -> None:
    metadata = {"logprobs": {"content": [{"token": "Yes", "logprob": -0.1, "top_logprobs": [
        {"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -2.4}]}]}}
    assert first_token_logprobs(metadata) == [("Yes", -0.1), ("No", -2.4)]
    with pytest.raises(KeyError):
        first_token_logprobs({"finish_reason": "stop"})


def test_llm_judge_needs_a_model() -> None:
    with pytest.raises(RagError, match="needs a language model"):
        build_judges(["llm"], Settings(backend="extractive"), None)
    with pytest.raises(RagError, match="Unknown judge"):
        build_judges(["oracle"], Settings(backend="extractive"), None)


class CountingJudge:
    """Supported when the claim's first word is in the evidence; counts its calls."""

    name = "fake"
    model = "first-word"
    threshold = 0.5

    def __init__(self) -> None:
        self.calls = 0

    def fingerprint(self) -> str:
        return "v1"

    def scores(self, items: Sequence[JudgeItem]) -> list[float | None]:
        self.calls += 1
        return [float(i.claim.split()[0] in i.evidence) for i in items]


def _claims_file(path: Path) -> Path:
    rows = [
        {"id": "c1", "claim": "Cats sleep.", "passage": "Cats sleep all day.", "source": "000", "supported": True,
         "kind": "paraphrase"},
        {"id": "c2", "claim": "Dogs sleep.", "passage": "Cats sleep all day.", "source": "000", "supported": False,
         "kind": "wrong_entity"},
        {"id": "c3", "claim": "Cats never sleep.", "passage": "Cats sleep all day.", "source": "000",
         "supported": False, "kind": "negation"},
        {"id": "c4", "claim": "Birds sing.", "passage": "Birds sing at dawn.", "source": "001", "supported": True,
         "kind": "verbatim"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_measurement_and_cache(tmp_path: Path) -> None:
    claims = _claims_file(tmp_path / "claims.jsonl")
    cache = tmp_path / "out" / "judges.json"
    judge = CountingJudge()
    first = cached_measurement(judge, claims, cache)
    # c1 right, c2 right, c3 wrong (the negation keeps the first word), c4 right.
    assert first["balanced_accuracy"] == 0.75 and first["recall_supported"] == 1.0
    assert first["precision_supported"] == pytest.approx(2 / 3, abs=1e-4)
    assert first["per_kind"]["negation"] == {"n": 1, "correct": 0, "accuracy": 0.0}
    assert first["scores"] == {"c1": 1.0, "c2": 0.0, "c3": 1.0, "c4": 1.0}
    assert judge.calls == 1 and "fake|first-word" in json.loads(cache.read_text())["judges"]

    assert cached_measurement(judge, claims, cache)["balanced_accuracy"] == 0.75
    assert judge.calls == 1  # served from judges.json
    with claims.open("a", encoding="utf-8") as handle:  # new claims: measured again
        handle.write(json.dumps({"id": "c5", "claim": "Birds fly.", "passage": "Birds sing at dawn.",
                                 "source": "001", "supported": False, "kind": "unsupported_addition"}) + "\n")
    assert cached_measurement(judge, claims, cache)["n"] == 5 and judge.calls == 2


def test_bad_claims_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "claims.jsonl"
    bad.write_text('{"id": "c1"}\n', encoding="utf-8")
    with pytest.raises(RagError, match=r"claims.jsonl, line 1"):
        cached_measurement(CountingJudge(), bad, None)


def test_verifier_judge_is_the_model_verdict_vetoed_by_missing_numbers() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from evals.quality.judges import JudgeUnavailable, VerifierJudge

    judge = VerifierJudge(FakeListChatModel(responses=["Yes"]))
    evidence = "The club had a debt of £103m when Krasner's board took over."
    # The veto needs no model: a number the evidence lacks is unsupported whatever the model would say.
    assert judge.score(JudgeItem("The club's debt was £90m.", evidence)) == 0.0
    with pytest.raises(JudgeUnavailable):  # a model without log-probabilities cannot judge
        judge.score(JudgeItem("The club's debt was £103m.", evidence))


def test_judge_disagreements_count_sentences_both_decided() -> None:
    from evals.quality.runner import disagreements

    def verdicts(*flags: bool | None) -> dict:
        return {"claims": [{"text": f"s{i}", "supported": f, "score": 0.9 if f else 0.1} for i, f in enumerate(flags)]}

    records = [{"id": "q1", "faithfulness": {"llm": verdicts(True, False, None), "verifier": verdicts(True, True, True)}}]
    [pair] = disagreements(records, ["llm", "verifier"])
    assert pair["judges"] == ["llm", "verifier"] and pair["claims"] == 2 and pair["disagree"] == 1
    assert pair["examples"] == [{"id": "q1", "text": "s1", "llm": 0.1, "verifier": 0.9}]
