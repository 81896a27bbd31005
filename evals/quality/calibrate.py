"""Fit the select strategy's confidence weights on dev-split eval reports.

    python -m evals.quality.calibrate REPORT.json [REPORT.json ...] [--max-false-refusals 0.04]

Reads the questions that reached the select gate (their ``signals``) in reports of
``rag eval --split dev``, fits a logistic regression of "answerable" on the
signals (L2-regularised, Newton steps), then moves the bias so that the refusal
threshold ``min_confidence`` = 0.5 refuses as many unanswerable questions as it
can while refusing at most the given share of the answerable ones. Prints the
weights for ``rag.answer.extractive.WEIGHTS`` and the dev figures they give. Tune on dev
only: the test halves are for reporting.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

FEATURES = ("p_yes", "found", "relevance", "term_coverage")


def features(signals: dict[str, float]) -> list[float]:
    p = min(max(signals["p_yes"], 1e-4), 1 - 1e-4)
    return [math.log(p / (1 - p)), signals["found"], signals["relevance"], signals["term_coverage"]]


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Logistic regression weights (bias first) by Newton's method; the bias is not penalised."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    ridge = np.eye(len(w)) * l2
    ridge[0, 0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + ridge @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge
        w -= np.linalg.solve(hessian, gradient)
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--max-false-refusals", type=float, default=0.04)
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    rows = []
    for path in args.reports:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        if report["dataset"].get("split") != "dev":
            raise SystemExit(f"{path}: not a dev-split report (rag eval --split dev); calibrate on dev only")
        # Questions whose phrase was NONE or not in the quotes are refused whatever the weights: not fitted.
        rows += [(q["id"], q["answerable"], q["signals"]) for q in report["questions"]
                 if q.get("signals") and q["signals"]["found"] > 0]
    x = np.array([features(s) for _, _, s in rows])
    y = np.array([float(a) for _, a, _ in rows])
    w = fit(x, y, args.l2)
    z = np.hstack([np.ones((len(x), 1)), x]) @ w
    answerable = np.sort(z[y == 1])
    # Shift so that at most max_false_refusals of the answerable fall below 0 (confidence 0.5).
    allowed = int(math.floor(args.max_false_refusals * len(answerable)))
    shift = -(answerable[allowed] - 1e-6) if allowed < len(answerable) else 0.0
    w[0] += shift
    z = z + shift
    refused = z < 0
    print(f"{len(rows)} questions reached the gate ({int(y.sum())} answerable, {int((1 - y).sum())} unanswerable)")
    print(f"false refusals {int((refused & (y == 1)).sum())}, refused unanswerable {int((refused & (y == 0)).sum())}")
    weights = {"bias": round(float(w[0]), 4), **{f: round(float(v), 4) for f, v in zip(FEATURES, w[1:], strict=True)}}
    print("WEIGHTS =", json.dumps(weights))
    for (qid, a, s), value in zip(rows, z, strict=True):
        print(f"  {qid:<6} {'answerable' if a else 'unanswerable':<12} confidence {1 / (1 + math.exp(-value)):.3f}  {s}")


if __name__ == "__main__":
    main()
