"""The /ask API's optional arguments: whatever a client sends is accepted or refused in one clear line."""

from __future__ import annotations

import json

import pytest

from rag.errors import QuestionError
from rag.web.state import MAX_HISTORY_JSON_CHARS, api_arguments


def test_defaults_and_both_forms_of_history() -> None:
    assert api_arguments(None, None, None) == ([], None, None)
    assert api_arguments("", "", 0) == ([], None, None)
    pairs = [["Who?", "Starmer."]]
    assert api_arguments(json.dumps(pairs), "extractive", 3) == (pairs, "extractive", 3)
    assert api_arguments(pairs, "", "7") == (pairs, None, 7)  # the array itself; top_k as text
    assert api_arguments("[]", None, 5.0) == ([], None, 5)


@pytest.mark.parametrize(("history", "top_k", "message"), [
    ("[]", "abc", "top_k must be a whole number from 1 to 50"),
    ("[]", 1e400, "top_k must be a whole number from 1 to 50"),
    ("[]", 2.5, "top_k must be a whole number from 1 to 50"),
    ("[]", 51, "top_k must be a whole number from 1 to 50"),
    ("{not json", 0, "history_json is not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, 0, "history_json is not valid JSON (nested too deep)"),
    ("x" * (MAX_HISTORY_JSON_CHARS + 1), 0, "the limit is"),
    ('{"user": "hi"}', 0, "must be a JSON list"),
    (42, 0, "must be a JSON list"),
])
def test_what_a_client_gets_wrong_is_one_clear_line(history: object, top_k: object, message: str) -> None:
    with pytest.raises(QuestionError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        api_arguments(history, None, top_k)
    assert "\n" not in str(caught.value)
