"""The `rag` command: a thin layer over the library.

It parses options, calls the library and prints. A RagError becomes one line on
stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rag import _env  # noqa: F401
from rag.errors import RagError
from rag.logs import configure_logging
from rag.settings import AnswerStrategy, Backend, Settings, get_settings
from rag.text import terminal_safe
from rag.types import Answer, EvidenceEvent, Filters, TokenEvent

app = typer.Typer(
    help="Grounded question answering over a folder of news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help="Folder of articles (default: RAG_CORPUS_DIR or seeds/).")]
IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index folder (default: RAG_INDEX_DIR or index/).")]
KOpt = Annotated[int | None, typer.Option("--k", min=1, max=50, help="Passages to retrieve.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
BackendOpt = Annotated[Backend | None, typer.Option("--backend", help="local, openai or extractive.")]
StrategyOpt = Annotated[
    AnswerStrategy | None,
    typer.Option("--strategy", help="select, generate, extract or auto (RAG_ANSWER_STRATEGY; see the README)."),
]
PublisherOpt = Annotated[
    list[str] | None,
    typer.Option("--publisher", help="Only this publisher's articles (case-insensitive; repeat for several)."),
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Only articles from this date on: YYYY-MM-DD, YYYY-MM or YYYY (undated ones are left out)."),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", help="Only articles up to this date, inclusive: YYYY-MM-DD, YYYY-MM or YYYY."),
]
ArticleOpt = Annotated[
    list[str] | None,
    typer.Option("--article", help="Only this article: its id, as in `rag search --json` (repeat for several)."),
]
# How a filter error names each field: the option that set it.
_FILTER_OPTIONS = {"publisher": "--publisher", "since": "--since", "until": "--until", "article_ids": "--article"}


@app.callback()
def _options(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True,
            help="-v: what each stage does; -vv: details, libraries too (RAG_LOG sets single modules).",
        ),
    ] = 0,
) -> None:
    configure_logging(verbose)


def _settings(corpus: Path | None = None, index: Path | None = None, **extra: Any) -> Settings:
    return get_settings(corpus_dir=corpus, index_dir=index, **extra)


def _filters(
    publishers: list[str] | None, since: str | None, until: str | None, articles: list[str] | None
) -> Filters | None:
    """The filter options as Filters (None: none given); a malformed one is a FilterError naming the option."""
    return Filters.parse({"publisher": publishers or None, "since": since, "until": until,
                          "article_ids": articles or None}, labels=_FILTER_OPTIONS)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
def index(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Delete the index and build it afresh.")] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Let a corpus folder without articles empty the index.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bring the index in line with the corpus folder (only new or changed articles are embedded)."""
    from rag.index.build import build_index

    report = build_index(_settings(corpus, index), rebuild=rebuild, progress=sys.stderr.isatty(),
                         allow_empty=allow_empty)
    if as_json:
        data = {k: v for k, v in vars(report).items() if k != "problems"}
        data["problems"] = [{"source": p.source, "reason": p.reason} for p in report.problems]
        _print_json(data)
        return
    # File names come from the user's folder: a newline or a right-to-left mark in one must not forge a line.
    for label, names in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for name in names:
            typer.echo(f"{label:8} {terminal_safe(name)}")
    for problem in report.problems:
        typer.echo(f"problem  {terminal_safe(problem.source)}: {terminal_safe(problem.reason)}", err=True)
    typer.echo(report.summary())


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: KOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    publisher: PublisherOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    article: ArticleOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the passages retrieved for a query, best first, with their scores."""
    from rag.answer.chain import clean_question
    from rag.answer.retrieve import get_search

    settings = _settings(corpus, index)
    query = clean_question(query, settings.max_question_chars)  # the same rules as `rag ask`
    filters = _filters(publisher, since, until, article)
    retrieval = get_search(settings).retrieve(query, k or settings.top_k, filters)
    hits = retrieval.passages
    if as_json:
        _print_json([hit.model_dump() for hit in hits])
        return
    note = retrieval.filter_note()
    if note:
        typer.echo(terminal_safe(note) + "\n")
    if not hits:
        typer.echo(f"No passage matches: {terminal_safe(retrieval.no_match_reason())}." if filters is not None
                   else "No passages found.")
    for rank, hit in enumerate(hits, start=1):
        typer.echo(
            f"{rank}. {terminal_safe(hit.source)} [{hit.start}:{hit.end}]  relevance {hit.relevance:.3f}  "
            f"score {hit.score:.4f}  (dense #{hit.dense_rank or '-'}, bm25 #{hit.lexical_rank or '-'})"
        )
        for ref in hit.also_in:
            typer.echo(f"   also in {terminal_safe(ref.source)} [{ref.start}:{ref.end}]")
        typer.echo("   " + hit.text.replace("\n", " "))
        typer.echo()


@app.command()
def info(corpus: CorpusOpt = None, index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """Print index statistics."""
    from rag.index.handle import Index

    status = Index.open(_settings(corpus, index)).status()
    if as_json:
        _print_json(status)
        return
    for key, value in status.items():
        typer.echo(f"{key:16} {value}")


def _print_answer(answer: Answer) -> None:
    if answer.notice:
        typer.echo(f"Note: {answer.notice}", err=True)
    typer.echo(answer.answer)
    if answer.citations:
        typer.echo("\nSources:")
    for c in answer.citations:
        typer.echo(f"[{c.marker}] {terminal_safe(c.title)} ({terminal_safe(c.source)} {c.start}-{c.end})")
        typer.echo(f"    \u201c{c.quote}\u201d")
    if answer.refused_at == "filters":
        typer.echo(f"Why: {terminal_safe(answer.refusal_reason or '')}")
    if answer.refused and answer.passages:
        nearest = answer.passages[0]
        where = f"{terminal_safe(nearest.title)} ({terminal_safe(nearest.source)})"
        typer.echo(f"\nNearest passage: {where}, relevance {nearest.relevance:.2f}")
    if answer.filter_note:
        typer.echo(f"\n{terminal_safe(answer.filter_note)}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    backend: BackendOpt = None,
    strategy: StrategyOpt = None,
    k: KOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    publisher: PublisherOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    article: ArticleOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the indexed articles, with citations."""
    from rag.answer.chain import build_chain

    filters = _filters(publisher, since, until, article)
    settings = _settings(corpus, index, backend=backend, top_k=k, answer_strategy=strategy)
    chain = build_chain(settings)
    request = {"question": question, "filters": filters}
    if as_json:
        _print_json(chain.invoke(request).model_dump(mode="json"))
        return
    streamed = False
    for event in chain.stream(request):
        if isinstance(event, TokenEvent) and sys.stdout.isatty():
            typer.echo(event.text, nl=False)
            streamed = True
        elif isinstance(event, Answer):
            if streamed:  # replace the raw stream by the verified answer
                typer.echo("\n" + "-" * 40)
            _print_answer(event)


@app.command()
def chat(
    backend: BackendOpt = None,
    strategy: StrategyOpt = None,
    k: KOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    publisher: PublisherOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    article: ArticleOpt = None,
) -> None:
    """A terminal chat that streams answers and prints their sources (Ctrl-D to quit)."""
    from rag.answer.chain import build_chain

    filters = _filters(publisher, since, until, article)
    chain = build_chain(_settings(corpus, index, backend=backend, top_k=k, answer_strategy=strategy))
    history: list[tuple[str, str]] = []
    typer.echo("Ask about the articles. Empty line or Ctrl-D to quit.")
    if filters is not None:
        typer.echo(f"Only articles matching: {terminal_safe(filters.describe())}.")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            break
        if not question:
            break
        try:
            streamed = False
            for event in chain.stream({"question": question, "chat_history": history, "filters": filters}):
                if isinstance(event, EvidenceEvent):
                    titles = sorted({p.title for p in event.passages})
                    typer.echo(f"(searching {len(event.passages)} passages from {len(titles)} articles)")
                elif isinstance(event, TokenEvent):
                    typer.echo(event.text, nl=False)
                    streamed = True
                else:
                    if streamed:  # the generate strategy's raw text, replaced by the verified answer
                        typer.echo("\n" + "-" * 40)
                    _print_answer(event)
                    history.append((question, event.answer))
        except RagError as exc:
            typer.echo(f"Error: {exc}", err=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default: RAG_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", min=0, max=65535, help="Port (default: RAG_PORT, 7860).")] = None,
    backend: BackendOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
) -> None:
    """Serve the HTTP API alone, without the chat page: /v1 (OpenAI-compatible) and /docs."""
    import time

    from rag.server.api import build_api
    from rag.server.run import build_missing_index
    from rag.server.run import serve as run_server
    from rag.server.service import NewsService

    started = time.perf_counter()
    settings = _settings(corpus, index, host=host, port=port, backend=backend)
    build_missing_index(settings)
    service = NewsService(settings)
    run_server(build_api(settings, service), service, "newsrag API", started=started)


# --- commands other packages add (evals/ adds `eval` and `bench`) ---
COMMAND_PLUGINS = "newsrag.commands"


def _add_plugin_commands() -> None:
    """Each entry point of the group is a ``register(app)`` function: rag never imports them by name."""
    from importlib.metadata import entry_points

    for plugin in entry_points(group=COMMAND_PLUGINS):
        plugin.load()(app)


_add_plugin_commands()


def main() -> None:
    """Console entry point: user errors as one line, exit status 1."""
    try:
        app()
    except RagError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
    except OSError as exc:  # the file system refused: a path under a file, no permission, disk full...
        where = f": {exc.filename}" if exc.filename else ""
        typer.echo(f"Error: {exc.strerror or exc}{where}", err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
