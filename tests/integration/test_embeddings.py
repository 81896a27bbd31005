"""The packaged MiniLM in plain torch (rag.bert) gives sentence-transformers' vectors; other models still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.settings import Settings

pytestmark = pytest.mark.integration

TEXTS = [
    "Why won't Starmer leave the ECHR?",
    "  Arsène Wenger said the £2 000 fine and 80,000 fans were \"a disgrace\".  ",
    "x",
    " ".join(["Keir Starmer ruled out quitting the ECHR because it would jeopardise deportation deals."] * 40),
]


def _minilm() -> Path:
    return Path(Settings().resolved_embedding_model())


def test_the_packaged_minilm_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    from rag.bert import load_bert

    bert = load_bert(str(_minilm()))
    assert bert is not None
    reference = SentenceTransformer(str(_minilm()), device="cpu")
    expected = reference.encode(TEXTS, batch_size=2, normalize_embeddings=True, convert_to_numpy=True)
    got = bert.sentence_vectors(TEXTS, batch_size=2, progress=False)
    assert got.shape == expected.shape == (4, 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # the last text is cut at 256 tokens by both
    tokens = reference.encode(TEXTS, output_value="token_embeddings")
    offsets = reference.tokenizer(TEXTS, return_offsets_mapping=True, truncation=True, max_length=256)["offset_mapping"]
    for (vectors, spans), want, want_spans in zip(bert.token_vectors(TEXTS, batch_size=3), tokens, offsets, strict=True):
        np.testing.assert_allclose(vectors, want.numpy(), atol=1e-4)
        assert spans == [tuple(span) for span in want_spans]
    long = TEXTS[-1] * 3
    assert bert.count_tokens(long) == len(reference.tokenizer(long, add_special_tokens=False)["input_ids"]) > 256


def test_a_model_of_another_shape_is_left_to_sentence_transformers(tmp_path: Path) -> None:
    from rag.bert import load_bert
    from rag.embeddings import SentenceEmbedder

    folder = tmp_path / "cls-pooled"
    shutil.copytree(_minilm(), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text()) | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    pooling.write_text(json.dumps(config))
    assert load_bert(str(folder)) is None
    assert load_bert(str(tmp_path)) is None  # no model at all
    embedder = SentenceEmbedder(str(folder))
    vectors = embedder.encode(TEXTS[:2])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # CLS pooling is not the mean: the packaged model's vector differs, so the fallback really ran.
    assert float(vectors[0] @ SentenceEmbedder(str(_minilm())).encode(TEXTS[:1])[0]) < 0.99
    passages, sentences = embedder.encode_passages(["One sentence. Another one."], [[(0, 13), (14, 26)]])
    assert passages.shape == (1, 384) and sentences[0].vectors.shape == (2, 384)
