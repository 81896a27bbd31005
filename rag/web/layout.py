"""The Gradio page: the chat tab with its sources panel, the articles tab, and the ``/ask`` API.

``build_app(settings)`` lays the components out and wires them to a
:class:`~rag.web.state.RagApp`; the look lives in static/app.css and the citation
clicks in static/app.js.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr  # rag/__init__ (imported first, as our package) already set GRADIO_ANALYTICS_ENABLED=False

from rag.errors import RagError
from rag.ingest.scan import SUPPORTED_SUFFIXES
from rag.settings import Settings
from rag.web import render
from rag.web.state import BACKENDS, MAX_EXAMPLES, RagApp, api_arguments, api_filters, friendly_error

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
THEME = gr.themes.Default(
    primary_hue="blue",
    neutral_hue="slate",
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

# The look: layout of the chat and sources panel, source cards, the articles table.
CSS = (STATIC / "app.css").read_text()
# Clicking a citation link shows its turn in the sources panel, scrolls to the card
# and highlights it. Capture phase, so the Chatbot's own link handling never runs.
JS = (STATIC / "app.js").read_text()


def build_app(settings: Settings | None = None, app: RagApp | None = None) -> gr.Blocks:
    """The Gradio Blocks of the chat app (served by :func:`rag.web.serve.launch`)."""
    settings = settings or Settings()
    rag = app or RagApp(settings)

    def new_chat() -> tuple[list[Any], str, list[Any], str]:
        return [], render.sources_html([], {}), [], ""

    def refresh() -> tuple[Any, Any, Any, Any, Any]:
        try:
            rows = rag.article_rows()
            choices = [(f"{r['title']} ({r['source']})", str(r["id"])) for r in rows]
            samples = [[q] for q in rag.examples()]
            return (rag.status_html(), render.articles_table_html(rows), gr.Dropdown(choices=choices, value=None),
                    gr.Dataset(samples=samples), gr.Dropdown(choices=rag.publisher_choices()))
        except Exception:
            log.exception("refresh failed")
            return rag.status_html(), gr.skip(), gr.skip(), gr.skip(), gr.skip()

    def upload(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        def indexing(done: int, total: int) -> None:  # the chat keeps answering meanwhile
            progress(done / max(total, 1), desc=f"Indexing: {done} of {total} articles")

        try:
            html_report, _, _ = rag.upload(files, on_progress=indexing)
        except Exception as exc:
            log.exception("upload failed")
            html_report = render.index_report_html(error=friendly_error(exc))
        return (html_report, None, *refresh())

    def remove(article_id: str | None) -> tuple[Any, ...]:
        try:
            html_report = rag.remove(article_id)
        except Exception as exc:
            log.exception("removal failed")
            html_report = render.index_report_html(error=friendly_error(exc))
        return (html_report, *refresh())

    def pick_example(sample: Any) -> str:
        if isinstance(sample, (list, tuple)):
            sample = sample[0] if sample else ""
        return str(sample or "")

    def api_ask(
        question: str, history_json: str = "[]", backend: str = "", top_k: int = 0, filters_json: str = "{}"
    ) -> dict[str, Any]:
        """Answer a question from the indexed articles. history_json: a JSON list of [user, assistant] pairs
        of earlier turns; backend: local, openai or extractive ('' = server default); top_k: 0 = default;
        filters_json: a JSON object restricting the articles, e.g. {"publisher": "Sky News", "since": "2025-05",
        "until": "2025-05-31", "article_ids": [...]} ('{}' = all articles)."""
        try:
            history, chosen_backend, k = api_arguments(history_json, backend, top_k)
            filters = api_filters(filters_json)
            return rag.ask(question, history, chosen_backend, k, filters).model_dump(mode="json")
        except RagError as exc:  # the client's mistake: one line in the log, the message in the reply
            log.info("/ask refused: %s", exc)
            raise gr.Error(str(exc), print_exception=False) from None

    with gr.Blocks(title="News chat — answers from the articles", analytics_enabled=False) as demo:
        with gr.Row(elem_id="rag-header"):
            gr.HTML('<h1>News chat</h1><div class="rag-subtitle">Answers come only from the indexed articles; '
                    "every claim links to the passage it is quoted from.</div>",
                    elem_id="rag-title", scale=3, min_width=300)
            status = gr.HTML(rag.status_html(), elem_id="index-status", scale=2, min_width=300)
        views_state = gr.State([])
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=420):
                    chatbot = gr.Chatbot(
                        elem_id="chat", height=600, show_label=False, sanitize_html=True, render_markdown=True,
                        latex_delimiters=[], feedback_options=None, buttons=["copy"],
                        placeholder="Ask about the indexed news articles. Every answer cites its sources.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="Ask a question about the articles…", show_label=False, scale=6,
                            elem_id="question", max_lines=4, autofocus=True, submit_btn=False,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask-btn")
                        clear = gr.Button("New chat", scale=1, min_width=120, elem_id="new-chat")
                    examples = gr.Dataset(
                        components=[question], samples=[[q] for q in rag.examples()], label="Try asking",
                        elem_id="examples", samples_per_page=MAX_EXAMPLES,
                    )
                    with gr.Accordion("Answer settings and filters (this session)", open=False,
                                      elem_id="answer-settings"):
                        with gr.Row(elem_id="filters"):  # which articles answers come from
                            publishers = gr.Dropdown(
                                rag.publisher_choices(), value=[], multiselect=True, allow_custom_value=True,
                                label="Publishers", info="Only these publishers' articles (none: all)", scale=2,
                                elem_id="filter-publishers",
                            )
                            since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", max_lines=1, scale=1,
                                               min_width=120, elem_id="filter-since",
                                               info="Undated articles are left out")
                            until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", max_lines=1, scale=1,
                                               min_width=120, elem_id="filter-until", info="Inclusive")
                        backend = gr.Radio(
                            list(BACKENDS), value=settings.backend, label="Backend",
                            info="local: Qwen via llama.cpp · openai: OpenAI-compatible server · "
                                 "extractive: quotes the best sentences, no LLM",
                        )
                        top_k = gr.Slider(1, 20, value=min(settings.top_k, 20), step=1,
                                          label="Passages to retrieve (top-k)")
                with gr.Column(scale=2, min_width=340):
                    sources = gr.HTML(render.sources_html([], {}), elem_id="sources-panel", max_height=760)
            with gr.Tab("Articles", id="articles-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    files = gr.File(
                        file_count="multiple", label=f"Upload articles ({', '.join(SUPPORTED_SUFFIXES)}; "
                        f"up to {settings.max_upload_bytes / 1e6:g} MB each)", elem_id="upload", type="filepath",
                    )
                    report = gr.HTML(render.index_report_html(), elem_id="index-report")
                    with gr.Group():
                        to_remove = gr.Dropdown(label="Remove an article (deletes its file from the corpus)",
                                                choices=[], elem_id="remove-choice")
                        remove_btn = gr.Button("Remove article", variant="stop", elem_id="remove-btn")
                with gr.Column(scale=3, min_width=420):
                    articles = gr.HTML(render.articles_table_html([]), elem_id="articles-table")

        chat_outputs = [chatbot, sources, views_state, question]
        chat_inputs = [question, chatbot, views_state, backend, top_k, publishers, since, until]
        answering = [
            trigger(rag.respond, chat_inputs, chat_outputs, api_visibility="private", show_progress="hidden")
            for trigger in (question.submit, send.click)
        ]
        answering.append(
            examples.click(pick_example, examples, question, queue=False, api_visibility="private").then(
                rag.respond, chat_inputs, chat_outputs, api_visibility="private", show_progress="hidden"
            )
        )
        cancels: Any = answering  # gradio's annotation says dicts; it takes the events
        clear.click(new_chat, None, chat_outputs, queue=False, api_visibility="private", cancels=cancels)
        chatbot.clear(new_chat, None, chat_outputs, queue=False, api_visibility="private", cancels=cancels)
        refresh_outputs = [status, articles, to_remove, examples, publishers]
        files.upload(upload, files, [report, files, *refresh_outputs], api_visibility="private",
                     concurrency_limit=1, concurrency_id="index")
        remove_btn.click(remove, to_remove, [report, *refresh_outputs], api_visibility="private",
                         concurrency_limit=1, concurrency_id="index",
                         js="(id) => (id && confirm('Remove this article from the corpus and the index?')) ? id : null")
        demo.load(refresh, None, refresh_outputs, api_visibility="private", queue=False)
        gr.api(api_ask, api_name="ask")
    return demo
