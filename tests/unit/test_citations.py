"""Citation parsing (pure) and verification (with the real embedder, on seed evidence)."""


from __future__ import annotations

import pytest

from rag.answer.citations import is_refusal, parse_claims


def test_parse_claims_markers() -> None:
    claims = parse_claims("Starmer ruled it out [1]. Deals would suffer [2, 3]. Lammy agreed [4-5].")
    assert [c.cited for c in claims] == [(1,), (2, 3), (4, 5)]
    assert claims[0].text == "Starmer ruled it out."


def test_parse_claims_marker_after_full_stop_belongs_to_previous_sentence() -> None:
    claims = parse_claims("Starmer ruled it out. [1] Deals would suffer. [2][3]")
    assert [(c.text, c.cited) for c in claims] == [("Starmer ruled it out.", (1,)), ("Deals would suffer.", (2, 3))]


def test_parse_claims_without_markers() -> None:
    assert parse_claims("No markers here.")[0].cited == ()


@pytest.mark.parametrize("text", ["NOT IN ARTICLES", "not in articles.", "  ", "I'm sorry. NOT IN ARTICLES"])
def test_refusal_token(text: str) -> None:
    assert is_refusal(text)
