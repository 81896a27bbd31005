"""The Gradio app: `python app.py` in a subprocess driven through gradio_client, and its handlers in-process.

Every app here uses the extractive backend on temporary copies of the seeds and their index.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.errors import QuestionError, RagError
from rag.index.build import build_index
from rag.index.catalog import Catalog
from rag.server.guard import guards
from rag.server.uploads import corpus_file, safe_name, store_upload
from rag.settings import Settings
from rag.web import render
from rag.web.serve import mount_kwargs, parse_auth
from rag.web.state import RagApp
from tests.conftest import REPO, SEEDS, free_port, wait_for_http

pytestmark = pytest.mark.integration

ZORB = (
    "Zorbian Lighthouse Act 2031 passes after marathon debate\n\n"
    "The Zorbian parliament passed the Lighthouse Act 2031 on Tuesday, requiring every coastal town to keep a "
    "lighthouse staffed by at least two keepers.\n\n"
    "Harbour minister Elsa Quint said the act would cost 40 million crowns over five years and would be funded by "
    "a levy on cruise ships.\n\n"
    "Critics in the fishing lobby said the levy would drive tourists away from the northern islands.\n"
)


def copy_seed_index(seed_settings: Settings, dest: Path, **overrides: Any) -> Settings:
    """A private corpus (copy of the seeds) and a copy of the session's seed index, ready to modify."""
    shutil.copytree(SEEDS, dest / "corpus")
    shutil.copytree(seed_settings.index_dir, dest / "index")
    return Settings(corpus_dir=dest / "corpus", index_dir=dest / "index", backend="extractive", **overrides)


@dataclass
class Server:
    url: str
    settings: Settings
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path


def start_app(settings: Settings, workdir: Path, timeout: float = 180, **env: str) -> Server:
    """`python app.py` with RAG_* variables for these settings (and nothing from the caller's RAG_*)."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE"}
    environ.update(
        RAG_CORPUS_DIR=str(settings.corpus_dir), RAG_INDEX_DIR=str(settings.index_dir), RAG_BACKEND="extractive",
        RAG_PORT=str(port), RAG_HOST="127.0.0.1", PYTHONUNBUFFERED="1", **env,
    )
    stdout, stderr = workdir / "app.stdout", workdir / "app.stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=workdir, env=environ,
                                   stdout=out, stderr=err)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, timeout, process)
    except BaseException:
        stop_app(process)
        raise RuntimeError(f"app did not start:\n{stderr.read_text()[-3000:]}") from None
    return Server(url, settings.model_copy(update={"port": port}), process, stdout, stderr)


def wait_for_text(path: Path, text: str, timeout: float = 30) -> str:
    """The file's content once it contains text (the server answers a moment before it prints)."""
    deadline = time.monotonic() + timeout
    while text not in (content := path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return content


def stop_app(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="module")
def server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python app.py` on a copy of the seed index."""
    base = tmp_path_factory.mktemp("app-server")
    running = start_app(copy_seed_index(seed_settings, base), base)
    yield running
    stop_app(running.process)


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    from gradio_client import Client

    return Client(server.url, verbose=False)


@pytest.fixture()
def rag_app(seed_settings: Settings, tmp_path: Path) -> RagApp:
    """The app's handlers in-process, on a private corpus and index."""
    settings = copy_seed_index(seed_settings, tmp_path, max_upload_bytes=20_000)
    return RagApp(settings)


def assert_grounded(answer: dict[str, Any], index_dir: Path) -> None:
    assert not answer["refused"], answer
    assert answer["citations"], answer
    catalog = Catalog(index_dir)
    for c in answer["citations"]:
        assert f"[{c['marker']}]" in answer["answer"]
        article = catalog.get_article(c["article_id"])
        assert article is not None
        assert article.text[c["start"] : c["end"]] == c["quote"]
        assert c["quote"] in article.text


# --- the API of the running app --------------------------------------------------


def test_ask_endpoint_returns_an_answer_with_verified_citations(server: Server, client: Any) -> None:
    answer = client.predict("Why won't Starmer leave the ECHR?", api_name="/ask")
    assert isinstance(answer, dict) and answer["question"] == "Why won't Starmer leave the ECHR?"
    assert answer["backend"] == "extractive"
    assert_grounded(answer, Path(server.settings.index_dir))
    assert "ECHR" in answer["answer"]
    json.dumps(answer)  # JSON all the way through


def test_ask_endpoint_takes_history_backend_and_top_k(server: Server, client: Any) -> None:
    history = json.dumps([["Why won't Starmer leave the ECHR?", "It would jeopardise deportation deals [1]."]])
    answer = client.predict("What did Amnesty International UK say?", history, "extractive", 2, api_name="/ask")
    assert_grounded(answer, Path(server.settings.index_dir))
    assert len(answer["passages"]) <= 2
    assert "Amnesty" in answer["answer"]
    refused = client.predict("What is the boiling point of tungsten?", api_name="/ask")
    assert refused["refused"] and refused["answer"] == "The articles don't cover this." and not refused["citations"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("   ",), "The question is empty"),
        (("Why?", "not json"), "history_json is not valid JSON"),
        (("Why?", "[]", "gpt-99"), "Unknown backend 'gpt-99'"),
        (("Why?", "[]", "", 99), "top_k must be a whole number from 1 to 50"),
        (("Why?", "[]", "", 0, '{"since": "May"}'), "filters.since must be a date like 2025-05-31"),
        (("Why?", "[]", "", 0, "[]"), "filters_json must be a JSON object"),
    ],
)
def test_ask_endpoint_reports_bad_input_as_a_message(client: Any, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/ask")


def test_ask_endpoint_takes_filters(server: Server, client: Any) -> None:
    sky = client.predict("What did Amnesty International UK say?", "[]", "", 0, '{"publisher": "sky news"}',
                         api_name="/ask")
    assert_grounded(sky, Path(server.settings.index_dir))
    assert {p["publisher"] for p in sky["passages"]} == {"Sky News"}
    assert sky["filters"]["publishers"] == ["Sky News"] and sky["filter_note"] == "Filtered: Sky News · 1 of 3 articles"
    later = client.predict("What did Amnesty International UK say?", "[]", "", 0, '{"since": "2026-01"}',
                           api_name="/ask")
    assert later["refused"] and later["refused_at"] == "filters" and later["passages"] == []
    assert later["refusal_reason"] == ("no article matches the filters (since 2026-01-01); "
                                       "the dates also left out 2 undated articles")


def test_two_simultaneous_questions_both_complete(server: Server) -> None:
    from gradio_client import Client

    questions = ["Why won't Starmer leave the ECHR?", "What did Amnesty International UK say?"]
    results: dict[int, Any] = {}
    barrier = threading.Barrier(len(questions))

    def ask(i: int) -> None:
        c = Client(server.url, verbose=False)
        barrier.wait()
        try:
            results[i] = c.predict(questions[i], api_name="/ask")
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    for i, question in enumerate(questions):
        assert isinstance(results[i], dict), results[i]
        assert results[i]["question"] == question
        assert_grounded(results[i], Path(server.settings.index_dir))


def test_page_and_api_are_served_offline(server: Server) -> None:
    page = httpx.get(server.url, timeout=30)
    assert page.status_code == 200
    for host in ("fonts.googleapis.com", "fonts.gstatic.com", "cdn.jsdelivr.net", "unpkg.com", "cdnjs"):
        assert host not in page.text
    config = httpx.get(server.url + "config", timeout=30)
    theme = httpx.get(server.url + "theme.css", timeout=30)
    assert config.status_code == 200 and config.json().get("analytics_enabled") is not True
    for text in (config.text, theme.text):
        assert "googleapis" not in text and "gstatic" not in text and "@import url(http" not in text
    assert "News chat ready at " + server.url in wait_for_text(server.stderr, "News chat ready at")
    assert server.url in wait_for_text(server.stdout, server.url)


def test_first_start_builds_the_index_and_the_login_guards_the_app(tmp_path: Path) -> None:
    from gradio_client import Client

    shutil.copytree(SEEDS, tmp_path / "corpus")
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "fresh-index", backend="extractive")
    started = time.monotonic()
    running = start_app(settings, tmp_path, timeout=300, RAG_AUTH="alice:s3cret")
    try:
        ready = time.monotonic() - started
        log = wait_for_text(running.stderr, "News chat ready at")
        assert "No index at" in log and "Indexed: 3 added" in log, log
        assert running.url in wait_for_text(running.stdout, running.url)
        assert httpx.get(running.url + "config", timeout=30).status_code == 401
        assert httpx.get(running.url + "gradio_api/info", timeout=30).status_code == 401
        with pytest.raises(Exception, match="(?i)credentials|auth|login"):
            Client(running.url, verbose=False)
        with pytest.raises(Exception, match="(?i)credentials|auth|login|incorrect"):
            Client(running.url, auth=("alice", "wrong"), verbose=False)
        client = Client(running.url, auth=("alice", "s3cret"), verbose=False)
        answer = client.predict("Who wrote the op-ed with Starmer?", api_name="/ask")
        assert answer["citations"]
        print(f"cold start with index build: {ready:.1f} s")

        # DNS rebinding: a page elsewhere reaching 127.0.0.1 under its own name is refused.
        assert httpx.get(running.url, headers={"Host": "evil.example"}, timeout=30).status_code == 400
        assert httpx.get(running.url, headers={"Host": "localhost"}, timeout=30).status_code in (200, 401)
        # Guessing: 4 more failures (one above) fill the window; then even the right password waits.
        codes = [httpx.post(running.url + "login", data={"username": "alice", "password": f"guess{n}"},
                            timeout=30).status_code for n in range(5)]
        assert codes[:4] == [400] * 4 and codes[4] == 429, codes
        blocked = httpx.post(running.url + "login", data={"username": "alice", "password": "s3cret"}, timeout=30)
        assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    finally:
        stop_app(running.process)


def test_server_settings_come_from_the_settings() -> None:
    settings = Settings(host="127.0.0.1", port=7999, auth="u:p:w", max_upload_bytes=1234)
    kwargs = mount_kwargs(settings)
    assert kwargs["auth"] == ("u", "p:w") and kwargs["max_file_size"] == 1234
    assert kwargs["show_error"] is False
    hosts = guards(settings)[0].kwargs["allowed_hosts"]
    assert hosts == ["127.0.0.1", "::1", "localhost"]
    theme_css = kwargs["theme"]._get_theme_css()
    assert "googleapis" not in theme_css and "@import" not in theme_css and "ui-sans-serif" in theme_css
    assert parse_auth(None) is None
    with pytest.raises(RagError):
        parse_auth("no-colon")


# --- uploads and removal (the handlers, in-process) ------------------------------------


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_upload_adds_an_article_that_then_answers_questions(rag_app: RagApp, tmp_path: Path) -> None:
    upload = tmp_path / "incoming" / "zorbian lighthouse act!.txt"
    upload.parent.mkdir()
    upload.write_text(ZORB)
    report_html, outcomes, report = rag_app.upload([str(upload)])
    assert [o.saved_as for o in outcomes] == ["zorbian_lighthouse_act.txt"]
    assert report is not None and report.added == ["zorbian_lighthouse_act.txt"]
    assert "added" in report_html and "4 articles" in report_html
    assert (Path(rag_app.settings.corpus_dir) / "zorbian_lighthouse_act.txt").read_text() == ZORB
    assert any("Zorbian" in q for q in rag_app.examples())
    assert "Zorbian Lighthouse Act 2031" in render.articles_table_html(rag_app.article_rows())

    copy = tmp_path / "incoming" / "copy.txt"
    copy.write_text(ZORB)
    seed = next(SEEDS.iterdir())
    _, again, report = rag_app.upload([str(copy), str(seed)])
    assert report is None and [o.saved_as for o in again] == [None, None]
    assert "already indexed as zorbian_lighthouse_act.txt" in again[0].message
    assert f"already indexed as {seed.name}" in again[1].message

    answer = rag_app.ask("What does the Zorbian Lighthouse Act 2031 require?").model_dump(mode="json")
    assert_grounded(answer, Path(rag_app.settings.index_dir))
    assert any(c["source"] == "zorbian_lighthouse_act.txt" and "lighthouse" in c["quote"] for c in answer["citations"])


def test_rejected_uploads_get_a_message_each_and_write_nothing_outside_the_corpus(
    rag_app: RagApp, tmp_path: Path
) -> None:
    corpus = Path(rag_app.settings.corpus_dir)
    before = files_under(tmp_path)
    cases = {
        "notes.pdf": (b"%PDF-1.4 not an article", "unsupported file type '.pdf'"),
        "script.sh": (b"rm -rf /", "unsupported file type"),
        "big.txt": (b"x" * 20_001, "too large"),
        ".hidden.txt": (b"secret", "hidden files"),
        "empty.txt": (b"  \n", "empty"),
        "README": (b"no suffix", "no file type"),
        "archive.html": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 8, "binary file"),  # a zip
        "nul.txt": (b"The council met.\x00\x00\x00\x00 The budget passed." * 40, "binary file"),
    }
    incoming = tmp_path / "incoming"
    paths = []
    for name, (data, _) in cases.items():
        path = incoming / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths.append(str(path))
    report_html, outcomes, report = rag_app.upload(paths)
    assert report is None  # nothing saved, nothing re-indexed
    for outcome in outcomes:
        assert outcome.saved_as is None
        assert cases[outcome.name][1] in outcome.message, outcome
        assert outcome.message in html.unescape(report_html)
    assert files_under(tmp_path) - before == {Path(p) for p in paths}  # only the test's own files
    assert sorted(p.name for p in corpus.iterdir()) == sorted(p.name for p in SEEDS.iterdir())


def test_an_upload_the_index_refuses_is_not_left_in_the_corpus(rag_app: RagApp, tmp_path: Path) -> None:
    corpus = Path(rag_app.settings.corpus_dir)
    page = tmp_path / "menu.html"  # decodes as text, but holds no article once page furniture is removed
    page.write_text("<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></body></html>")
    report_html, outcomes, report = rag_app.upload([str(page)])
    (outcome,) = outcomes
    assert outcome.saved_as is None and "not indexed, not kept: no article text left" in outcome.message
    assert "menu.html" not in {p.name for p in corpus.iterdir()}
    assert report is not None and not report.problems and not report.added


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\win.ini.md", "win.ini.md"),
        ("/abs/path/Article One.HTML", "Article_One.html"),
        ("sub/dir/../..//évènement <b>.md", "evenement_b.md"),
        ("$(rm -rf).txt", "rm_-rf.txt"),
    ],
)
def test_upload_names_are_sanitised_into_the_corpus_folder(tmp_path: Path, name: str, saved: str) -> None:
    corpus = tmp_path / "nested" / "corpus"
    outcome = store_upload(corpus, name, b"An article about something.", 10_000)
    assert outcome.saved_as is not None, outcome
    assert outcome.saved_as == safe_name(name)
    assert (corpus / outcome.saved_as).read_bytes() == b"An article about something."
    assert files_under(tmp_path) == {corpus / outcome.saved_as}  # no temp file left, nothing outside
    assert all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in outcome.saved_as)
    assert outcome.saved_as == saved


def test_upload_never_overwrites_a_different_file(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    first = store_upload(corpus, "story.txt", b"first version", 1000)
    same = store_upload(corpus, "story.txt", b"first version", 1000)
    other = store_upload(corpus, "story.txt", b"second version", 1000)
    third = store_upload(corpus, "dir/story.txt", b"third version", 1000)
    assert (first.saved_as, same.saved_as, other.saved_as, third.saved_as) == (
        "story.txt", "story.txt", "story-2.txt", "story-3.txt")
    assert "identical" in same.message and "renamed" in other.message
    assert (corpus / "story.txt").read_bytes() == b"first version"
    assert (corpus / "story-2.txt").read_bytes() == b"second version"
    assert sorted(p.name for p in corpus.iterdir()) == ["story-2.txt", "story-3.txt", "story.txt"]


def test_remove_deletes_the_file_and_reindexes_but_never_outside_the_corpus(rag_app: RagApp, tmp_path: Path) -> None:
    corpus = Path(rag_app.settings.corpus_dir)
    row = next(r for r in rag_app.article_rows() if r["publisher"] == "Sky News")
    report_html = rag_app.remove(str(row["id"]))
    assert "removed" in report_html and "2 articles" in report_html
    assert not (corpus / str(row["source"])).exists()
    assert len(list(corpus.iterdir())) == 2
    assert "Sky News" not in render.articles_table_html(rag_app.article_rows())
    assert "no longer in the index" in rag_app.remove(str(row["id"]))
    assert "Choose an article" in rag_app.remove(None)

    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    for source in ("../outside.txt", str(outside), "../../etc/passwd", "."):
        with pytest.raises(RagError, match="not inside the corpus"):
            corpus_file(corpus, source)
    assert outside.read_text() == "keep me"


def test_chat_keeps_answering_while_the_index_is_updated(rag_app: RagApp, tmp_path: Path) -> None:
    corpus = Path(rag_app.settings.corpus_dir)
    errors: list[BaseException] = []
    answers: list[Any] = []
    stop = threading.Event()

    def chat() -> None:
        while not stop.is_set():
            try:
                answers.append(rag_app.ask("What did Amnesty International UK say?"))
            except BaseException as exc:
                errors.append(exc)

    worker = threading.Thread(target=chat)
    worker.start()
    try:
        for i in range(3):
            (corpus / f"extra-{i}.txt").write_text(ZORB.replace("Zorbian", f"Zorbian{i}"))
            report, error = rag_app.service.reindex()
            assert error is None and report is not None and report.added == [f"extra-{i}.txt"]
    finally:
        stop.set()
        worker.join(60)
    assert not errors, errors
    assert answers and all(a.citations and "Amnesty" in a.answer for a in answers)


# --- the chat handler ----------------------------------------------------------------------


def run_chat(app: RagApp, question: str, chat: list[Any] | None = None, views: list[Any] | None = None,
             backend: str | None = None) -> tuple[list[Any], str, list[Any], list[tuple[Any, ...]]]:
    updates = list(app.respond(question, chat or [], views or [], backend, 0))
    chat_out, panel, views_out = updates[0][0], updates[0][1], updates[0][2]
    for update in updates:
        if isinstance(update[0], list):
            chat_out = update[0]
        if isinstance(update[1], str):
            panel = update[1]
        if isinstance(update[2], list):
            views_out = update[2]
    return chat_out, panel, views_out, updates


def test_chat_handler_streams_evidence_then_the_answer_with_linked_sources(rag_app: RagApp) -> None:
    chat, panel, views, updates = run_chat(rag_app, "Why won't Starmer leave the ECHR?")
    assert "Searching the articles" in updates[0][1]  # the panel before retrieval
    assert any(isinstance(u[1], str) and "Searching… found" in u[1] for u in updates)  # then the evidence
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert 'class="cite" href="#src-0-1"' in chat[1]["content"]
    assert 'id="src-0-1"' in panel and "<mark>" in panel and "Show full article" in panel

    chat2, panel2, views2, _ = run_chat(rag_app, "What did Amnesty International UK say?", chat, views)
    assert len(chat2) == 4 and len(views2) == 2
    assert 'href="#src-1-1"' in chat2[3]["content"]
    assert 'id="turn-0"' in panel2 and 'id="turn-1"' in panel2  # earlier citations stay clickable
    assert views2[1].answer.standalone_question  # history was passed


def test_chat_handler_turns_exceptions_into_friendly_messages(rag_app: RagApp, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        def stream(self, _input: Any) -> Iterator[Any]:
            raise self.exc
            yield  # a generator

    monkeypatch.setattr(rag_app, "chain", lambda *a: Broken(ZeroDivisionError("secret internals")))
    chat, panel, _, _ = run_chat(rag_app, "Why?")
    assert "Sorry, something went wrong" in chat[-1]["content"] and "secret internals" not in chat[-1]["content"]
    assert "rag-error" in chat[-1]["content"]

    monkeypatch.setattr(rag_app, "chain", lambda *a: Broken(QuestionError("The question is too long.")))
    chat, _, _, _ = run_chat(rag_app, "Why?")
    assert "The question is too long&#46;" in chat[-1]["content"]

    assert list(rag_app.respond("   ", [], [], None, 0))  # an empty question changes nothing, no error


def test_refusal_and_llm_fallback_notice_in_the_chat(rag_app: RagApp) -> None:
    chat, panel, _, _ = run_chat(rag_app, "What is the boiling point of tungsten?")
    assert chat[-1]["content"].startswith('<div class="rag-refusal">')
    assert "Nearest passages" in chat[-1]["content"] and 'id="src-0-p1"' in panel

    rag_app.settings = rag_app.settings.model_copy(
        update={"openai_base_url": f"http://127.0.0.1:{free_port()}/v1", "llm_timeout_s": 5.0})
    with pytest.warns(UserWarning, match="language model"):  # gr.Warning: a toast in the browser
        chat, _, views, _ = run_chat(rag_app, "What did Amnesty International UK say?", backend="openai")
    assert 'class="rag-notice"' in chat[-1]["content"], chat[-1]["content"]
    assert views[-1].answer.notice and views[-1].answer.backend == "extractive"
    assert 'class="cite"' in chat[-1]["content"]


def test_example_questions_follow_the_corpus(rag_app: RagApp, tmp_path: Path) -> None:
    assert rag_app.examples()[:3] == [
        "Why won't Starmer leave the ECHR?",
        "Who wrote the op-ed with Starmer?",
        "What did Amnesty International UK say?",
    ]

    corpus = tmp_path / "other-corpus"
    corpus.mkdir()
    (corpus / "zorb.txt").write_text(ZORB)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "other-index", backend="extractive")
    build_index(settings)
    assert RagApp(settings).examples() == ["What is “Zorbian Lighthouse Act 2031 passes after marathon debate” about?"]
