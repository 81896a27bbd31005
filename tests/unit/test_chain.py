"""The answering chain: Runnable interface, refusals, fallback, multi-turn, and the real local model."""


from __future__ import annotations

import pytest

from rag.answer.chain import clean_question, parse_input
from rag.errors import QuestionError


# --- pure input handling -------------------------------------------------------
def test_question_is_cleaned_and_bounded() -> None:
    assert clean_question("  Why\x00 did\u200b it\n happen? ", 100) == "Why did it happen?"
    with pytest.raises(QuestionError, match="empty"):
        clean_question(" \x07 \t ", 100)
    with pytest.raises(QuestionError, match="limit is 100"):
        clean_question("x" * 101, 100)
    with pytest.raises(QuestionError, match="text"):
        clean_question(None, 100)
    assert clean_question("caf\udce9?", 100) == "caf\ufffd?"  # invalid unicode does not crash


def test_history_formats() -> None:
    pairs = [("Who is Lammy?", "The deputy PM.")]
    messages = [{"role": "user", "content": "Who is Lammy?"}, {"role": "assistant", "content": "The deputy PM."}]
    assert parse_input({"question": "And?", "chat_history": pairs}, 100) == ("And?", pairs)
    assert parse_input({"question": "And?", "chat_history": messages}, 100) == ("And?", pairs)
    with pytest.raises(QuestionError):
        parse_input({"question": "And?", "chat_history": "oops"}, 100)
