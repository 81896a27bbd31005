"""A mean-pooled BERT sentence encoder (the packaged all-MiniLM-L6-v2) in plain torch.

sentence-transformers computes exactly this, but importing it costs ~8 s of a 2-core machine (it pulls in
transformers, scikit-learn and scipy) before the model loads: every `rag` command, app start and answer server
paid it. torch, tokenizers and safetensors load in ~3 s. The weights, the tokenizer and the sum are the same, so
vectors agree with sentence-transformers' to float rounding (an index built by either is read by the other).
A model folder of another shape returns None from :func:`load_bert`, and sentence-transformers loads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tokenizers import Encoding, Tokenizer

# The modules of a sentence-transformers folder this encoder reproduces: the transformer, mean pooling, unit length.
_MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
            "sentence_transformers.models.Normalize")


# A text's token vectors (tokens, dimension) and each token's (start, end) characters.
TokenVectors = tuple[np.ndarray, list[tuple[int, int]]]


@dataclass(frozen=True)
class _Shape:
    layers: int
    heads: int
    eps: float
    max_tokens: int


class BertEncoder:
    """Token vectors, sentence vectors and token counts of a BERT model folder, as sentence-transformers gives
    them (batches sorted by length, padded, masked)."""

    def __init__(self, weights: dict[str, torch.Tensor], tokenizer_file: Path, shape: _Shape) -> None:
        self.weights, self.shape = weights, shape
        self.dimension = int(weights["embeddings.word_embeddings.weight"].shape[1])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(shape.max_tokens)
        self.counter = Tokenizer.from_file(str(tokenizer_file))  # no length limit: the API's usage figures
        self.counter.no_padding()
        self.counter.no_truncation()

    def count_tokens(self, text: str) -> int:
        return len(self.counter.encode(text, add_special_tokens=False).ids)

    def sentence_vectors(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        """Unit-length means of each text's token vectors: sentence-transformers' pooling and normalisation."""
        means = np.stack([tokens.mean(axis=0) for tokens, _ in self.token_vectors(texts, batch_size, progress)])
        return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)

    def token_vectors(self, texts: list[str], batch_size: int, progress: bool = False) -> list[TokenVectors]:
        """Each text's contextual token vectors, special tokens included, with each token's character offsets
        in the text ((0, 0) for a special token)."""
        encodings: list[Encoding] = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))  # little padding per batch
        out: list[TokenVectors] = [(np.zeros((0, self.dimension), np.float32), [])] * len(texts)
        starts = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        with torch.inference_mode():
            for start in starts:
                batch = order[start : start + batch_size]
                width = max(len(encodings[i].ids) for i in batch)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.bool)
                for row, i in enumerate(batch):
                    ids[row, : len(encodings[i].ids)] = torch.tensor(encodings[i].ids)
                    mask[row, : len(encodings[i].ids)] = True
                hidden = self._forward(ids, mask).numpy()
                for row, i in enumerate(batch):
                    out[i] = (np.array(hidden[row, : len(encodings[i].ids)], dtype=np.float32), encodings[i].offsets)
        return out

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        w, shape = self.weights, self.shape
        width = ids.shape[1]
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:width]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _norm(x, w, "embeddings.LayerNorm", shape.eps)
        heads, size = shape.heads, self.dimension // shape.heads
        attend = mask[:, None, None, :]  # padding is never attended to

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(t.shape[0], width, heads, size).transpose(1, 2)

        for n in range(shape.layers):
            p = f"encoder.layer.{n}."
            q, k, v = (split(_linear(x, w, f"{p}attention.self.{name}")) for name in ("query", "key", "value"))
            context = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=1 / math.sqrt(size))
            context = context.transpose(1, 2).reshape(x.shape)
            x = _norm(_linear(context, w, f"{p}attention.output.dense") + x, w, f"{p}attention.output.LayerNorm", shape.eps)
            inner = torch.nn.functional.gelu(_linear(x, w, f"{p}intermediate.dense"))
            x = _norm(_linear(inner, w, f"{p}output.dense") + x, w, f"{p}output.LayerNorm", shape.eps)
        return x


def _linear(x: torch.Tensor, w: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return torch.nn.functional.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])


def _norm(x: torch.Tensor, w: dict[str, torch.Tensor], name: str, eps: float) -> torch.Tensor:
    return torch.nn.functional.layer_norm(x, x.shape[-1:], w[f"{name}.weight"], w[f"{name}.bias"], eps)


def _json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_bert(folder: str) -> BertEncoder | None:
    """The encoder of a sentence-transformers folder holding a BERT model with mean pooling and unit-length
    vectors (the packaged MiniLM); None for any other model, which sentence-transformers then loads."""
    root = Path(folder)
    modules, config = _json(root / "modules.json"), _json(root / "config.json")
    pooling, limits = _json(root / "1_Pooling" / "config.json"), _json(root / "sentence_bert_config.json")
    if not (isinstance(modules, list) and isinstance(config, dict) and isinstance(pooling, dict)):
        return None
    if tuple(m.get("type") for m in modules) != _MODULES or [m.get("path") for m in modules][:2] != ["", "1_Pooling"]:
        return None
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"))
    plain = (config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
             and config.get("position_embedding_type", "absolute") == "absolute")
    files = (root / "model.safetensors", root / "tokenizer.json")
    lowered = isinstance(limits, dict) and limits.get("do_lower_case")  # sentence-transformers would lower the text
    if not (mean_only and plain and not lowered and all(f.is_file() for f in files)):
        return None
    most = int(config.get("max_position_embeddings", 512))
    max_tokens = min(int(limits.get("max_seq_length", most)), most) if isinstance(limits, dict) else most
    shape = _Shape(int(config["num_hidden_layers"]), int(config["num_attention_heads"]),
                   float(config.get("layer_norm_eps", 1e-12)), max_tokens)
    return BertEncoder(load_file(str(files[0])), files[1], shape)
