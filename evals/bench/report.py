"""The benchmark's goals and its markdown report, from the results dict alone.

Pure functions of the JSON written by :mod:`evals.bench.run`, so a results file can
be re-rendered (and tested) without measuring anything again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

SCALE_PASSAGES = 100_000
GIB = 2**30


def _get(data: Any, *path: str | int) -> Any:
    for key in path:
        if data is None:
            return None
        if isinstance(key, int):
            data = data[key] if isinstance(data, list) and len(data) > key else None
        else:
            data = data.get(key) if isinstance(data, dict) else None
    return data


def _s(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f}"


def _mib(value: float | None) -> str:
    return "n/a" if not value else f"{value / 2**20:,.0f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


# --- goals ------------------------------------------------------------------------------


def _answer_summary(results: dict[str, Any], size: str, backend: str) -> dict[str, Any] | None:
    return _get(results, "answers", size, backend, "ours")


def _largest_size(results: dict[str, Any], minimum: int) -> str | None:
    sizes = results.get("sizes", {})
    big = [(info["passages"], name) for name, info in sizes.items() if info.get("passages", 0) >= minimum]
    return max(big)[1] if big else None


def _goal(name: str, target: str, measured: float | None, shown: str, met: bool | None, where: str) -> dict[str, Any]:
    return {"goal": name, "target": target, "measured": measured, "shown": shown, "where": where,
            "met": None if measured is None else met}


def evaluate_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with its measured value and met / not met (None = not measured in this run)."""
    goals = []
    evidence_backend = "local" if _answer_summary(results, "seeds", "local") else "extractive"
    seeds_evidence = _get(_answer_summary(results, "seeds", evidence_backend), "first_evidence", "median")
    goals.append(_goal("first evidence p50 on seeds", "< 0.3 s", seeds_evidence, f"{_s(seeds_evidence, 3)} s",
                       seeds_evidence is not None and seeds_evidence < 0.3, f"seeds, {evidence_backend}"))

    big = _largest_size(results, SCALE_PASSAGES)
    big_evidence = None
    if big:
        backend = "local" if _answer_summary(results, big, "local") else "extractive"
        big_evidence = _get(_answer_summary(results, big, backend), "first_evidence", "median")
    goals.append(_goal(f"first evidence p50 at >= {SCALE_PASSAGES:,} passages", "< 0.5 s", big_evidence,
                       f"{_s(big_evidence, 3)} s", big_evidence is not None and big_evidence < 0.5, big or "not run"))

    local_total = _get(_answer_summary(results, "seeds", "local"), "total", "median")
    goals.append(_goal("full local answer p50 on seeds (1.5B)", "<= 5 s", local_total, f"{_s(local_total)} s",
                       local_total is not None and local_total <= 5, "seeds, local"))

    speedup = _get(results, "baseline", "seeds", "speedup_total_p50")
    goals.append(_goal("local answer speed-up vs baseline (same model)", ">= 3.5x", speedup, _x(speedup),
                       speedup is not None and speedup >= 3.5, "seeds"))

    ingest_size = "bbc" if _get(results, "ingest", "bbc") else next(iter(results.get("ingest") or {}), None)
    pct = _get(results, "ingest", ingest_size, "ingest_pct_of_raw") if ingest_size else None
    goals.append(_goal("cold ingest vs raw embedder throughput", ">= 90%", pct, f"{_s(pct, 0)}%",
                       pct is not None and pct >= 90, ingest_size or "not run"))

    noop = _get(results, "ingest", "bbc", "noop_seconds", "median")
    goals.append(_goal("no-op re-index of the BBC corpus", "< 2 s", noop, f"{_s(noop, 3)} s",
                       noop is not None and noop < 2, "bbc, in-process"))

    rss = _get(results, "app", "rss_serving_bytes")
    goals.append(_goal("memory while serving", "< 3 GB", rss, f"{_mib(rss)} MiB",
                       rss is not None and rss < 3 * GIB, f"app ({_get(results, 'app', 'backend') or 'n/a'})"))
    return goals


# --- markdown --------------------------------------------------------------------------


def _header(results: dict[str, Any]) -> list[str]:
    m = results.get("machine", {})
    packages = ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())
    load_start = ", ".join(str(v) for v in m.get("load_average") or [])
    load_end = ", ".join(str(v) for v in results.get("load_average_end") or [])
    cfg = results.get("config", {})
    return [
        f"# Benchmark {m.get('date', '')[:10]}{' (quick)' if cfg.get('quick') else ''}",
        "",
        f"- Command: `{results.get('command', 'rag bench')}` ({_s(results.get('duration_seconds'), 0)} s)",
        f"- Date: {m.get('date', 'n/a')}",
        f"- Machine: {m.get('cpu_model', 'n/a')}, {m.get('usable_cores', 'n/a')} usable cores "
        f"({m.get('logical_cores', 'n/a')} logical), {m.get('ram_gib', 'n/a')} GiB RAM "
        f"({m.get('ram_available_gib', 'n/a')} GiB available at start)",
        f"- Load average (1, 5, 15 min): {load_start} at start; {load_end} at end "
        f"(the cores are shared with other work: compare ratios measured side by side, not absolutes)",
        f"- Python {m.get('python', 'n/a')} on {m.get('platform', 'n/a')}",
        f"- Packages: {packages}",
        "",
    ]


def _sizes(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, info in results.get("sizes", {}).items():
        built = "cache" if info.get("from_cache") else f"built in {_s(info.get('build_seconds'), 0)} s"
        kind = f"synthetic x{info['multiple']}" if info.get("synthetic") else "real"
        rows.append([name, kind, f"{info['articles']:,}", f"{info['passages']:,}", built])
    return ["## Corpus sizes", "", *_table(["size", "kind", "articles", "passages", "index"], rows), ""]


def _ingest(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in (results.get("ingest") or {}).items():
        if "error" in r:
            rows.append([name, *(["n/a"] * 11), r["error"][:80]])
            continue
        rows.append([
            name, f"{r['articles']:,}", f"{r['passages']:,}",
            f"{_s(_get(r, 'cold_build_seconds', 'median'))} / {_s(_get(r, 'cold_build_seconds', 'p95'))}",
            _s(r.get("cold_articles_per_s"), 1), _s(r.get("cold_passages_per_s"), 1), _s(r.get("raw_passages_per_s"), 1),
            f"{_s(r.get('ingest_pct_of_raw'), 0)}%",
            f"{_s(_get(r, 'baseline_seconds', 'median'))} ({r.get('baseline_chunks') or 'n/a'} chunks)",
            _x(r.get("ours_over_baseline_time")),
            f"{_s(_get(r, 'noop_seconds', 'median'), 3)} / {_s(_get(r, 'noop_cli_seconds', 'median'), 1)}",
            _mib(_get(r, "peak_rss_bytes", "cold_build")), "",
        ])
    if not rows:
        return []
    header = ["size", "articles", "passages", "cold build p50 / p95 (s)", "articles/s", "passages/s",
              "raw embedder passages/s", "ingest % of raw", "baseline ingest p50 (s)", "ours/baseline time",
              "no-op re-index p50: in-process (s) / `rag index` (s)", "peak RSS cold build (MiB)", "note"]
    notes = [
        "",
        "Cold build = `build_index` into an empty folder with the embedder already loaded (load time reported in the JSON); "
        "raw embedder = one `encode` of exactly those passages with the same batch size; both, and the baseline's "
        "split + `Chroma.from_documents`, measured in alternating order in one fresh process; ingest % of raw = "
        "median over rounds of raw time / build time.",
        "",
    ]
    return ["## Ingest", "", *_table(header, rows), *notes]


def _retrieval(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in (results.get("retrieval") or {}).items():
        passages = _get(results, "sizes", name, "passages")
        rows.append([
            name, f"{passages:,}" if passages else "n/a", r["seconds"]["n"],
            _ms(r["seconds"]["median"]), _ms(r["seconds"]["p95"]),
            _ms(r["repeat_seconds"]["median"]), _ms(r["repeat_seconds"]["p95"]),
        ])
    if not rows:
        return []
    header = ["size", "passages", "queries", "p50 (ms)", "p95 (ms)", "repeat p50 (ms)", "repeat p95 (ms)"]
    note = ("`get_search(settings).search(q, k=5)` (dense + BM25 + fusion + sentence re-rank), one pass after a "
            "warm-up query; *repeat* = the same questions again, with the sentence vectors of their passages cached.")
    return ["## Retrieval latency", "", *_table(header, rows), "", note, ""]


def _answers(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, backends in (results.get("answers") or {}).items():
        for backend, r in backends.items():
            o = r["ours"]
            rows.append([
                name, backend, o["n"],
                f"{_s(o['first_evidence']['median'], 3)} / {_s(o['first_evidence']['p95'], 3)}",
                f"{_s(o['first_token']['median'])} / {_s(o['first_token']['p95'])}",
                f"{_s(o['total']['median'])} / {_s(o['total']['p95'])}",
                _s(o["input_tokens"]["median"], 0), o["refused"], o["fell_back"],
                _pct(_get(r, "quality", "key_fact_recall")),
            ])
    if not rows:
        return []
    header = ["size", "backend", "questions", "first evidence p50 / p95 (s)", "first token p50 / p95 (s)",
              "full answer p50 / p95 (s)", "prompt tokens p50", "refused", "fell back", "key-fact recall"]
    note = ("Timestamps from `chain.stream` on the caller's side; searches forgotten before each backend "
            "(cold sentence cache); before each size the model is reloaded (emptying llama.cpp's RAM prompt cache, "
            "which would otherwise serve a question's prompt from an earlier size) and warmed with the real system "
            "prompt. Multi-turn questions pass their history (the local backend then rewrites the question with "
            "the LLM before retrieval).")
    return ["## Answer latency", "", *_table(header, rows), "", note, ""]


def _baseline(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, b in (results.get("baseline") or {}).items():
        if not isinstance(b, dict) or "ours" not in b:
            continue
        rows = []
        for label, key in (("ours (local)", "ours"), ("LangChain tutorial baseline", "baseline")):
            r, q = b[key], b["quality"][key]
            rows.append([
                label, r["n"], f"{_s(r['first_evidence']['median'], 3)}",
                f"{_s(r['first_token']['median'])} / {_s(r['first_token']['p95'])}",
                f"{_s(r['total']['median'])} / {_s(r['total']['p95'])}",
                _s(r["input_tokens"]["median"], 0), _s(r["output_tokens"]["median"], 0),
                _pct(q["key_fact_recall"]), _pct(q.get("correctness")), f"{q['false_refusals']}/{q['answerable']}",
                f"{q['correct_refusals']}/{q['unanswerable']}",
            ])
        header = ["pipeline", "questions", "first evidence p50 (s)", "first token p50 / p95 (s)",
                  "full answer p50 / p95 (s)", "prompt tokens p50", "answer tokens p50", "key-fact recall",
                  "correctness", "false refusals", "correct refusals"]
        lines += [f"### {name}", "", *_table(header, rows), ""]
        lines.append(
            f"Ratios ours/baseline (medians, same run, alternating A B A B with the same loaded model): "
            f"first token {_x(b.get('ratio_first_token_p50'))}, full answer {_x(b.get('ratio_total_p50'))} "
            f"(speed-up {_x(b.get('speedup_total_p50'))}); per-question median of ratios: "
            f"full answer {_x(b.get('median_paired_ratio_total'))}."
        )
        lines.append("")
    ingest_ratios = [
        f"{name}: {_x(r.get('ours_over_baseline_time'))}"
        for name, r in (results.get("ingest") or {}).items() if r.get("ours_over_baseline_time") is not None
    ]
    if ingest_ratios:
        lines += [f"Ingest time ours/baseline (alternating, same process): {'; '.join(ingest_ratios)}.", ""]
    if not lines:
        return []
    method = _get(results, "baseline", "quality_method") or ""
    return ["## Baseline: the LangChain tutorial pipeline", "",
            "RecursiveCharacterTextSplitter(1000, 200) over the same cleaned texts, langchain_chroma with the same "
            "MiniLM embedder, top-4 similarity retriever, the tutorial prompt, the same local model. "
            f"Quality: {method}.", "", *lines]


def _verification(results: dict[str, Any]) -> list[str]:
    v = results.get("verification")
    if not v:
        return []
    rows = [
        [label, v[key]["n"], f"{_s(v[key]['total']['median'])} / {_s(v[key]['total']['p95'])}",
         f"{_s(v[key]['verification']['median'])} / {_s(v[key]['verification']['p95'])}",
         v[key]["dropped_sentences"], v[key]["refused"]]
        for label, key in (("LLM verifier (default)", "llm_verifier"), ("deterministic score only", "deterministic_only"))
    ]
    header = ["generate, verified by", "questions", "full answer p50 / p95 (s)", "verification p50 / p95 (s)",
              "sentences dropped", "refused"]
    return ["## Verification cost (generate strategy, seeds)", "", *_table(header, rows), "",
            f"Same questions and loaded model, alternating order per question; full answer with/without the LLM "
            f"verifier (medians): {_x(v.get('ratio_total_p50'))}.", ""]


def _app(results: dict[str, Any]) -> list[str]:
    a = results.get("app")
    if not a:
        return []
    if a.get("status") != "ok":
        return ["## App cold start", "", f"n/a: {a.get('reason', 'not run')}", ""]
    rows = [[a["backend"], a["index"], _s(a.get("model_assembly_seconds")), _s(a["ready_seconds"]),
             _s(a.get("first_answer_seconds")), _s(a.get("launch_to_first_answer_seconds")),
             f"{_s(_get(a, 'answer_seconds', 'median'))}", a["questions"], _mib(a["rss_ready_bytes"]),
             _mib(a["rss_serving_bytes"]), _mib(a["rss_peak_bytes"])]]
    header = ["backend", "index", "model assembly (s)", "start to HTTP 200 (s)", "first answer (s)",
              "start to first answer (s)", "answer p50 (s)", "questions", "RSS at ready (MiB)", "RSS serving (MiB)",
              "RSS peak (MiB)"]
    return ["## App cold start", "", *_table(header, rows), "",
            "`python app.py` on a copy of the index, the first question sent as soon as the page answers; "
            "*model assembly* is the set-up step `./run setup` does once (the packaged GGUF put together from its "
            "wheels into an empty cache and verified), *start to first answer* = HTTP 200 + the first answer, which "
            "waits for the app's warm-up (index, model load, the gate's prompt cached). RSS of the process and its "
            "children (psutil), after answering the questions through gradio_client `/ask`.", ""]


def _api(results: dict[str, Any]) -> list[str]:
    a = results.get("api")
    if not a:
        return []
    if a.get("status") != "ok":
        return ["## HTTP API overhead", "", f"n/a: {a.get('reason', 'not run')}", ""]
    rows = [[backend, _get(v, "api_seconds", "n"), _s(_get(v, "chain_invoke_seconds", "median"), 3),
             _s(_get(v, "api_seconds", "median"), 3), _s(_get(v, "api_stream_seconds", "median"), 3),
             _ms(_get(v, "overhead_seconds", "median")), _ms(_get(v, "http_overhead_seconds", "median")),
             _x(v.get("ratio_p50")), v.get("same_answers")]
            for backend, v in a.items() if isinstance(v, dict)]
    header = ["backend", "questions", "chain.invoke p50 (s)", "API p50 (s)", "API streamed p50 (s)",
              "paired difference p50 (ms)", "HTTP overhead p50 (ms)", "API / invoke", "same answers"]
    return ["## HTTP API overhead (seeds)", "", *_table(header, rows), "",
            "The same questions through `chain.invoke` in this process and through `POST /v1/chat/completions` of "
            "`python app.py` (plain, and streamed to the last byte), in alternating order per question. *Paired "
            "difference*: the median of API minus invoke per question (with the local model it also holds how warm "
            "each process's own prompt cache was); *HTTP overhead*: the API call's wall time minus the answer's own "
            "total in the same reply (HTTP, JSON, the usage count).", ""]


def _scale_out(results: dict[str, Any]) -> list[str]:
    s = results.get("scale_out")
    if not s:
        return []
    if "error" in s:
        return ["## Scale-out: Chroma server", "", f"n/a: {s['error']}", ""]
    rows = [
        ["embedded (PersistentClient)", _ms(s["embedded_seconds"]["median"]), _ms(s["embedded_seconds"]["p95"])],
        ["server (`chroma run`, HttpClient)", _ms(s["server_seconds"]["median"]), _ms(s["server_seconds"]["p95"])],
    ]
    lines = ["## Scale-out: Chroma server", "", f"Index `{s.get('size')}`, {s['vectors']:,} passages, "
             f"questions alternating between the embedded index and a replica whose index lives in the server "
             f"(its local folder only a cache), after an untimed pass that fills both sentence-vector caches.", "",
             *_table(["where the index lives", "search p50 (ms)", "search p95 (ms)"], rows), "",
             f"Server/embedded p50: {_x(s.get('server_over_embedded_p50'))}.", ""]
    if "refresh_seconds" in s:
        lines += [
            f"Publishing the embedded index into the server took {s['publish_seconds']:.1f} s; a replica's first "
            f"start with an empty cache (copying every article and passage from the server) took "
            f"{s['replica_start_seconds']:.2f} s.", "",
            *_table(["after an article is indexed by another process", "p50 (s)", "max (s)", "n"], [
                ["the write (lease, embedding, commit)", f"{s['write_seconds']['median']:.2f}",
                 f"{s['write_seconds']['max']:.2f}", str(s['write_seconds']['n'])],
                ["refresh latency: commit → found by a search on the replica", f"{s['refresh_seconds']['median']:.2f}",
                 f"{s['refresh_seconds']['max']:.2f}", str(s['refresh_seconds']['n'])],
            ]), "",
            "The replica checks the server's generation at most once a second before a search, so the refresh "
            "latency includes up to a second of waiting by design, then the copy of the changed article and the "
            "BM25 rebuild.", ""]
    return lines


def _profiles(results: dict[str, Any]) -> list[str]:
    profiles = results.get("profiles")
    if not profiles:
        return []
    lines = ["## Profiles (pyinstrument)", ""]
    for name, p in profiles.items():
        if "error" in p:
            lines += [f"- {name}: n/a ({p['error']})"]
            continue
        lines += [f"### {name} ({_s(p['duration_seconds'])} s, `{p['file']}`)", ""]
        for title, key in (("self time (where the CPU is)", "top_self_time"),
                           ("cumulative, project code (who asked for it)", "top_project_cumulative")):
            rows = [[item["function"].replace("|", "\\|"), _s(item["seconds"]), _pct(item["share"])]
                    for item in (p.get(key) or [])[:8]]
            if rows:
                lines += [*_table([f"function: {title}", "s", "share"], rows), ""]
    return lines


def _goals(results: dict[str, Any]) -> list[str]:
    rows = []
    for g in results.get("goals", []):
        status = "n/a" if g["met"] is None else ("met" if g["met"] else "NOT met")
        rows.append([g["goal"], g["target"], g["shown"], g["where"], status])
    return ["## Goals", "", *_table(["goal", "target", "measured", "where", "status"], rows), ""]


def _notes(results: dict[str, Any]) -> list[str]:
    notes = results.get("notes") or []
    return ["## Notes", "", *[f"- {note}" for note in notes], ""] if notes else []


def render_markdown(results: dict[str, Any]) -> str:
    """The whole report as markdown."""
    parts = [
        _header(results), _goals(results), _sizes(results), _ingest(results), _retrieval(results),
        _answers(results), _baseline(results), _verification(results), _app(results), _api(results), _scale_out(results),
        _profiles(results), _notes(results),
    ]
    return "\n".join(line for part in parts for line in part).rstrip() + "\n"
