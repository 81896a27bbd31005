"""The HTTP API's overhead: the same questions through ``chain.invoke`` in-process and through
``POST /v1/chat/completions`` of ``python app.py``, side by side.

The server runs on a private copy of a prepared index; for each question both
paths answer it, in alternating order, so drift of the shared machine hits both
alike. The overhead is the per-question difference (HTTP, JSON, the usage count),
reported as medians; that both paths gave the same answer is counted too. With the
local model the server has its own llama.cpp engine and prompt cache, so the paired
difference also holds how warm each cache was; the HTTP overhead proper is the
API call's wall time minus the answer's own ``timings["total"]`` in the same reply.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from evals.bench.app import _wait_ready, start_app, stop
from evals.bench.stats import ratio, summarize
from rag.settings import Settings

log = logging.getLogger(__name__)


def api_overhead(settings: Settings, workdir: Path, questions: list[str], backends: list[str]) -> dict[str, Any]:
    """Per backend: chain.invoke vs the API (plain and streamed) on the same questions; "n/a" when unavailable."""
    import httpx

    from rag.answer.chain import build_chain

    workdir.mkdir(parents=True, exist_ok=True)
    index = workdir / "index"
    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(settings.index_dir, index)
    log_path = workdir / "api.log"
    process, url = start_app(settings.corpus_dir, index, backends[0], workdir, log_path)
    url = url.rstrip("/")
    try:
        _wait_ready(f"{url}/health", process, 300)
        results: dict[str, Any] = {"status": "ok", "index": settings.index_dir.name, "questions": len(questions)}
        with httpx.Client(base_url=url, timeout=300) as client:
            for backend in backends:
                chain = build_chain(settings.model_copy(update={"backend": backend}))
                results[backend] = _side_by_side(chain, client, f"newsrag-{backend}", questions)
        return results
    except Exception as exc:  # the API is measured only when it can run
        tail = log_path.read_text(errors="replace")[-800:] if log_path.exists() else ""
        log.warning("API benchmark failed: %s\n%s", exc, tail)
        return {"status": "n/a", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        stop(process)
        shutil.rmtree(index, ignore_errors=True)


def _side_by_side(chain: Any, client: Any, model: str, questions: list[str]) -> dict[str, Any]:
    served: list[float] = []  # per plain API call: wall time minus the answer's own total, same request

    def via_api(question: str, stream: bool) -> tuple[float, str]:
        body = {"model": model, "messages": [{"role": "user", "content": question}], "stream": stream}
        started = time.perf_counter()
        if not stream:
            reply = client.post("/v1/chat/completions", json=body)
            reply.raise_for_status()
            elapsed = time.perf_counter() - started
            message = reply.json()["choices"][0]["message"]
            served.append(elapsed - message["timings"]["total"])
            return elapsed, message["content"]
        content = []
        with client.stream("POST", "/v1/chat/completions", json=body) as reply:
            reply.raise_for_status()
            for line in reply.iter_lines():
                if line.startswith("data: {"):
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    content.append(choices[0].get("delta", {}).get("content") or "")
        return time.perf_counter() - started, "".join(content)

    def in_process(question: str) -> tuple[float, str]:
        started = time.perf_counter()
        answer = chain.invoke(question)
        return time.perf_counter() - started, answer.answer

    in_process(questions[0])  # both warm: model loaded, prompt cached, index open
    via_api(questions[0], False)
    served.clear()
    local, plain, streamed, same = [], [], [], 0
    for i, question in enumerate(questions):
        runs = [lambda q=question: in_process(q), lambda q=question: via_api(q, False),
                lambda q=question: via_api(q, True)]
        order = runs if i % 2 == 0 else runs[::-1]
        timed = {id(run): run() for run in order}
        (t_local, a_local), (t_plain, a_plain), (t_stream, a_stream) = (timed[id(run)] for run in runs)
        local.append(t_local)
        plain.append(t_plain)
        streamed.append(t_stream)
        same += int(a_local == a_plain == a_stream)
    overhead = [p - c for p, c in zip(plain, local, strict=True)]
    return {
        "chain_invoke_seconds": summarize(local),
        "api_seconds": summarize(plain),
        "api_stream_seconds": summarize(streamed),
        "overhead_seconds": summarize(overhead),
        "http_overhead_seconds": summarize(served),
        "ratio_p50": ratio(summarize(plain)["median"], summarize(local)["median"]),
        "same_answers": same,
    }
