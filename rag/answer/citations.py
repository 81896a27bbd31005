"""Verify a generated answer sentence by sentence against its evidence.

Each sentence keeps the citations that support it; a sentence citing the wrong
item is re-attached to the item that does support it; a sentence no item
supports is dropped (and reported); an answer left with nothing is a refusal.
Markers are renumbered in order of appearance and resolved to exact article spans.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.prompts import REFUSAL_TOKEN
from rag.answer.support import LexicalSupport, combine, lexical_support, vetoed
from rag.ingest.chunking import split_sentences
from rag.text import LEADING_MARKERS, MARKER, marker_numbers, strip_markers, terms
from rag.types import Citation, EvidenceItem, VerifiedAnswer


@dataclass(frozen=True)
class Claim:
    """One sentence of the answer and the evidence numbers it cites."""

    text: str
    cited: tuple[int, ...]


def parse_claims(answer: str) -> list[Claim]:
    """Split an answer into sentences with their [n] markers.

    A marker that the sentence splitter put at the start of the next sentence
    ("... law. [1] The ...") belongs to the sentence before it.
    """
    pieces = [answer[s:e] for s, e in split_sentences(answer)]
    claims: list[tuple[str, list[int]]] = []
    for piece in pieces:
        leading = LEADING_MARKERS.match(piece)
        if leading and claims:
            claims[-1][1].extend(n for g in MARKER.findall(leading.group(0)) for n in marker_numbers(g))
            piece = piece[leading.end() :]
            if claims and not re.search(r"\w", piece):  # a closing quote cut off by the marker
                claims[-1] = (claims[-1][0] + piece.strip(), claims[-1][1])
                continue
        if claims and piece[:1] in "\"”’" and claims[-1][0].count('"') % 2 + claims[-1][0].count("“") > claims[-1][0].count("”"):
            claims[-1] = (claims[-1][0] + piece[0], claims[-1][1])  # the splitter cut off a closing quote
            piece = piece[1:]
        cited = [n for g in MARKER.findall(piece) for n in marker_numbers(g)]
        text = " ".join(MARKER.sub("", piece).split())
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if text:
            claims.append((text, cited))
    return [Claim(text, tuple(dict.fromkeys(cited))) for text, cited in claims]


def is_refusal(answer: str) -> bool:
    normalized = " ".join(answer.upper().split())
    return not normalized or REFUSAL_TOKEN in normalized


Entailment = Callable[[str, str], float]
# Texts -> their unit vectors, one row each (the embedder's encode).
Encode = Callable[[list[str]], np.ndarray]
"""(evidence, claim) -> P(the evidence entails the claim), e.g. the LLM asked one Yes/No question."""


def verify_answer(
    answer: str,
    items: Sequence[EvidenceItem],
    encode: Encode,
    min_support: float,
    entails: Entailment | None = None,
) -> VerifiedAnswer:
    """Keep only supported sentences, each cited to the evidence that supports it.

    Without ``entails`` a sentence is supported by an item whose deterministic score (word coverage,
    cosine, penalties) reaches ``min_support``. With it, the candidates are the cited items, then the
    best-scoring one, and a candidate supports the sentence when the model says it entails it and the
    sentence passes the vetoes: no number the candidate lacks, no sum of it in another role, nothing it only
    expects stated as done, no cause or certainty it does not state (:func:`rag.answer.support.vetoed`).
    """
    if is_refusal(answer) or not items:
        return VerifiedAnswer(text="", refused=True)
    claims = [c for c in parse_claims(answer) if terms(c.text).content]
    if not claims:
        return VerifiedAnswer(text="", refused=True)

    by_number = {item.number: item for item in items}
    _context = _article_contexts(items)
    vectors = encode([c.text for c in claims] + [item.text for item in items])
    claim_vecs, item_vecs = vectors[: len(claims)], vectors[len(claims) :]
    cosine = claim_vecs @ item_vecs.T

    kept: list[tuple[str, list[EvidenceItem], list[float]]] = []
    dropped: list[str] = []
    for ci, claim in enumerate(claims):
        lexical = [lexical_support(claim.text, item.text, _context(item)) for item in items]
        scores = [combine(lex, float(cosine[ci, ii])) for ii, lex in enumerate(lexical)]
        cited = [by_number[n] for n in claim.cited if n in by_number]
        if entails is not None:
            chosen, support = _entailed(claim.text, cited, items, scores, lexical, entails)
            if chosen is None:
                dropped.append(claim.text)
            else:
                kept.append((claim.text, [chosen], [support]))
            continue
        chosen = [item for item in cited if scores[items.index(item)] >= min_support]
        if not chosen and len(cited) > 1:
            # A sentence may combine several cited items: judge it against their union.
            union = " ".join(item.text for item in cited)
            best_cos = max(float(cosine[ci, items.index(item)]) for item in cited)
            context = " ".join(_context(item) for item in cited)
            if combine(lexical_support(claim.text, union, context), best_cos) >= min_support:
                chosen = cited
        if not chosen:
            best = max(range(len(items)), key=scores.__getitem__)
            if scores[best] >= min_support:
                chosen = [items[best]]  # re-attach to the item that does support it
        if chosen:
            kept.append((claim.text, chosen, [scores[items.index(item)] for item in chosen]))
        else:
            dropped.append(claim.text)

    if not kept:
        return VerifiedAnswer(text="", dropped=dropped, refused=True)

    marker_of: dict[int, int] = {}
    citations: list[Citation] = []
    sentences: list[str] = []
    for text, chosen, scores in kept:
        markers = []
        for item, score in zip(chosen, scores, strict=True):
            if item.number not in marker_of:
                marker_of[item.number] = len(marker_of) + 1
                citations.append(_citation(marker_of[item.number], item, score))
            markers.append(marker_of[item.number])
        sentences.append(attach_markers(text, markers))
    return VerifiedAnswer(text=" ".join(sentences), citations=citations, dropped=dropped)


ENTAILED = 0.5  # the verifier's threshold on P(entailed)


def _entailed(
    claim: str,
    cited: Sequence[EvidenceItem],
    items: Sequence[EvidenceItem],
    scores: Sequence[float],
    lexical: Sequence[LexicalSupport],
    entails: Entailment,
) -> tuple[EvidenceItem | None, float]:
    """The first candidate that entails the claim (the cited items, then the best-scoring other one)."""
    best = max(range(len(items)), key=scores.__getitem__)
    candidates = list(dict.fromkeys([*cited, items[best]]))
    for item in candidates:
        if vetoed(lexical[items.index(item)]):
            continue
        support = entails(item.text, claim)
        if support >= ENTAILED:
            return item, support
    return None, 0.0


def _article_contexts(items: Sequence[EvidenceItem]) -> Callable[[EvidenceItem], str]:
    """Where a claim's names may be found: the evidence passages of the cited sentence's article, and its title.

    A sentence often calls someone by a title or a pronoun that a neighbouring
    passage of the same article names ("the declaration" / "the Strasbourg
    declaration"); a name from another article is still caught.
    """
    texts: dict[str, dict[str, str]] = {}
    for item in items:
        passages = texts.setdefault(item.passage.article_id, {"": item.passage.title})
        passages[item.passage.passage_id] = item.passage.text
    joined = {article: "\n".join(parts.values()) for article, parts in texts.items()}
    return lambda item: joined[item.passage.article_id]


def attach_markers(sentence: str, markers: Sequence[int]) -> str:
    """'Text.' + [1, 2] -> 'Text [1][2].'; after a closing quote the markers go last."""
    tag = " " + "".join(f"[{m}]" for m in sorted(set(markers)))
    body = sentence.rstrip()
    if body[-1:] in ".!?":
        return body[:-1] + tag + body[-1]
    return body + tag


def _citation(marker: int, item: EvidenceItem, support: float) -> Citation:
    p = item.passage
    return Citation(
        marker=marker,
        passage_id=p.passage_id,
        **p.article_fields(),
        quote=item.text,
        start=item.start,
        end=item.end,
        support=round(support, 4),
    )


def cite_items(items: Sequence[EvidenceItem]) -> VerifiedAnswer:
    """An answer made of the evidence sentences themselves (extractive mode): support is exact.

    "[3]"-style markers inside the quoted article text are left out of the answer text (they would pass
    for citations); each citation's quote stays the exact article span.
    """
    citations = [_citation(n, item, 1.0) for n, item in enumerate(items, start=1)]
    text = " ".join(
        attach_markers(strip_markers(item.text), [n]) for n, item in enumerate(items, start=1)
    )
    return VerifiedAnswer(text=text, citations=citations)
