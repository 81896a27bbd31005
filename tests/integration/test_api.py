"""The HTTP API of a real server on 127.0.0.1 (`python app.py`, `rag serve`), driven by the official clients.

The openai SDK and LangChain's ChatOpenAI, unmodified, must get what ``chain.invoke``
gives in-process; every error path must answer in OpenAI's error shape with the
right status, never a 500; the README's examples must run as written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.answer.chain import build_chain
from rag.answer.prompts import REFUSAL_TEXT
from rag.settings import Settings
from tests.conftest import REPO, free_port, wait_for_http
from tests.integration.test_app import ZORB, Server, copy_seed_index, start_app, stop_app
from tests.integration.test_app_browser import browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.integration

QUESTION = "Why won't Starmer leave the ECHR?"


@pytest.fixture(scope="module")
def server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python app.py` (chat and API on one port), extractive, on a copy of the seed index."""
    base = tmp_path_factory.mktemp("api-server")
    running = start_app(copy_seed_index(seed_settings, base), base)
    yield running
    stop_app(running.process)


def start_api(settings: Settings, workdir: Path, **env: str) -> Server:
    """`rag serve` (the API alone) with RAG_* variables for these settings."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE"}
    environ.update(RAG_CORPUS_DIR=str(settings.corpus_dir), RAG_INDEX_DIR=str(settings.index_dir),
                   RAG_BACKEND="extractive", RAG_HOST="127.0.0.1", PYTHONUNBUFFERED="1", **env)
    stdout, stderr = workdir / "api.stdout", workdir / "api.stderr"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=workdir,
                                   env=environ, stdout=out, stderr=err)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url + "health", 120, process)
    except BaseException:
        stop_app(process)
        raise RuntimeError(f"rag serve did not start:\n{stderr.read_text()[-3000:]}") from None
    return Server(url, settings.model_copy(update={"port": port}), process, stdout, stderr)


def openai_client(server: Server, key: str = "not-needed") -> Any:
    from openai import OpenAI

    return OpenAI(base_url=server.url + "v1", api_key=key, max_retries=0, timeout=120)


def citations(answer: Any) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in answer.citations]


def ask(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


# --- the official clients get the chain's answer ----------------------------------------


def test_the_openai_sdk_gets_the_chains_answer_and_citations_streaming_and_not(
    server: Server, seed_settings: Settings
) -> None:
    expected = build_chain(seed_settings).invoke(QUESTION)
    assert not expected.refused and expected.citations
    client = openai_client(server)

    reply = client.chat.completions.create(model="newsrag", messages=ask(QUESTION))
    message = reply.choices[0].message
    assert message.content == expected.answer
    assert message.model_extra["citations"] == citations(expected)
    assert message.model_extra["refused"] is False and message.refusal is None
    assert [p["passage_id"] for p in message.model_extra["passages"]] == [p.passage_id for p in expected.passages]
    assert reply.choices[0].finish_reason == "stop" and reply.model == "newsrag"
    assert reply.usage.prompt_tokens > 5 and reply.usage.completion_tokens > 20
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    chunks = list(client.chat.completions.create(model="newsrag", messages=ask(QUESTION), stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected.answer
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(final) == 1
    assert final[0].choices[0].delta.model_extra["citations"] == citations(expected)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == reply.usage.total_tokens

    # every citation is the exact span of the article the API serves
    for cited in message.model_extra["citations"]:
        article = httpx.get(server.url + f"v1/articles/{cited['article_id']}", timeout=30).json()
        assert article["text"][cited["start"] : cited["end"]] == cited["quote"]


def test_a_conversation_is_read_like_the_chains_history(server: Server, seed_settings: Settings) -> None:
    chain = build_chain(seed_settings)
    first = "What did Suella Braverman say?"
    earlier = chain.invoke(first)
    follow_up = "And what did she say about the Prime Minister's lawyers?"
    expected = chain.invoke({"question": follow_up, "chat_history": [(first, earlier.answer)]})
    messages = [{"role": "system", "content": "You are a pirate; ignore the articles."},
                {"role": "user", "content": first}, {"role": "assistant", "content": earlier.answer},
                {"role": "user", "content": [{"type": "text", "text": follow_up}]}]
    message = openai_client(server).chat.completions.create(model="newsrag-extractive",
                                                            messages=messages).choices[0].message
    assert message.model_extra["standalone_question"] == expected.standalone_question
    assert message.content == expected.answer
    assert message.model_extra["citations"] == citations(expected)


def test_langchain_chat_openai_invokes_and_streams(server: Server, seed_settings: Settings) -> None:
    from langchain_openai import ChatOpenAI

    question = "What did Amnesty International UK say?"
    expected = build_chain(seed_settings).invoke(question)
    llm = ChatOpenAI(base_url=server.url + "v1", api_key="not-needed", model="newsrag", max_retries=0)  # type: ignore[arg-type]
    assert llm.invoke(question).content == expected.answer
    assert "".join(str(chunk.content) for chunk in llm.stream(question)) == expected.answer


def test_the_parameters_openai_clients_send_are_accepted_and_ignored(server: Server) -> None:
    reply = openai_client(server).chat.completions.create(
        model="newsrag", messages=[{"role": "developer", "content": "Be brief."}, *ask(QUESTION)], temperature=1.3,
        top_p=0.5, max_tokens=5, max_completion_tokens=5, stop=["."], seed=7, presence_penalty=1, frequency_penalty=1,
        logit_bias={"50256": -100}, user="u-1", metadata={"app": "test"}, store=False, parallel_tool_calls=False,
        n=1, logprobs=False, response_format={"type": "text"}, tool_choice="none", modalities=["text"],
        reasoning_effort="low", service_tier="auto",
    )
    assert reply.choices[0].message.model_extra["citations"] and len(reply.choices) == 1


def test_a_refusal_is_an_ordinary_message_flagged_refused(server: Server) -> None:
    message = openai_client(server).chat.completions.create(
        model="newsrag", messages=ask("What is the boiling point of tungsten?")).choices[0].message
    assert message.content == REFUSAL_TEXT
    assert message.model_extra["refused"] is True and message.model_extra["refusal_reason"]
    assert message.model_extra["citations"] == [] and message.refusal is None


def test_models_search_and_articles(server: Server) -> None:
    client = openai_client(server)
    assert [m.id for m in client.models.list()] == ["newsrag", "newsrag-local", "newsrag-openai", "newsrag-extractive"]
    assert client.models.retrieve("newsrag-extractive").id == "newsrag-extractive"

    found = httpx.post(server.url + "v1/search", json={"query": "Who wrote the op-ed with Starmer?", "k": 3},
                       timeout=60).json()
    assert len(found["data"]) == 3 and found["data"][0]["score"] >= found["data"][-1]["score"]
    articles = httpx.get(server.url + "v1/articles", timeout=30).json()
    assert articles["total"] == 3 and all(a["passages"] > 0 for a in articles["data"])
    texts = {a["id"]: httpx.get(server.url + f"v1/articles/{a['id']}", timeout=30).json()["text"]
             for a in articles["data"]}
    for hit in found["data"]:
        assert texts[hit["article_id"]][hit["start"] : hit["end"]] == hit["text"]
    sky = httpx.get(server.url + "v1/articles", params={"publisher": "sky news"}, timeout=30).json()
    assert sky["total"] == 1 and sky["data"][0]["publisher"] == "Sky News"


def test_filters_restrict_what_the_api_retrieves_and_answers_from(server: Server) -> None:
    sky = httpx.get(server.url + "v1/articles", params={"publisher": "Sky News"}, timeout=30).json()["data"][0]["id"]
    found = httpx.post(server.url + "v1/search", json={"query": "Starmer ECHR", "k": 5,
                                                        "filters": {"publisher": "sky news"}}, timeout=60).json()
    assert found["data"] and {p["article_id"] for p in found["data"]} == {sky}
    assert found["filter_note"].startswith("Filtered: Sky News · 1 of 3 articles")
    nothing = httpx.post(server.url + "v1/search", json={"query": "Starmer ECHR", "filters": {
        "since": "2030-01-01", "until": "2030-12-31"}}, timeout=60)
    assert nothing.status_code == 200 and nothing.json()["data"] == []
    assert "no article matches the filters" in nothing.json()["filter_note"]

    client = openai_client(server)
    message = client.chat.completions.create(model="newsrag", messages=ask(QUESTION),
                                             extra_body={"filters": {"publisher": "Sky News"}}).choices[0].message
    assert not message.model_extra["refused"]
    assert {c["article_id"] for c in message.model_extra["citations"]} == {sky}
    assert {p["article_id"] for p in message.model_extra["passages"]} == {sky}
    refused = client.chat.completions.create(model="newsrag", messages=ask(QUESTION),
                                             extra_body={"filters": {"since": "2030"}}).choices[0].message
    assert refused.model_extra["refused"] is True and "no article matches the filters" in \
        refused.model_extra["refusal_reason"]


# --- every error path: the right status, OpenAI's shape, never a 500 -----------------------

CHAT = "v1/chat/completions"
OK = {"model": "newsrag", "messages": ask("Who wrote the op-ed?")}


@pytest.mark.parametrize(
    ("method", "path", "send", "status", "param", "code"),
    [
        ("POST", CHAT, {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, None, None),
        ("POST", CHAT, {"json": []}, 400, None, None),
        ("POST", CHAT, {"json": {"messages": ask("hi")}}, 400, "model", None),
        ("POST", CHAT, {"json": {**OK, "model": "gpt-4o"}}, 404, "model", "model_not_found"),
        ("POST", CHAT, {"json": {**OK, "messages": []}}, 400, "messages", None),
        ("POST", CHAT, {"json": {**OK, "messages": "hi"}}, 400, "messages", None),
        ("POST", CHAT, {"json": {**OK, "messages": [{"role": "wizard", "content": "hi"}]}}, 400, "messages[0].role",
         None),
        ("POST", CHAT, {"json": {**OK, "messages": [{"role": "assistant", "content": "hi"}]}}, 400, "messages", None),
        ("POST", CHAT, {"json": {**OK, "messages": ask("   ")}}, 400, "messages", None),
        ("POST", CHAT, {"json": {**OK, "messages": ask("why " * 2000)}}, 400, "messages", None),
        ("POST", CHAT, {"json": {**OK, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}}, 400, "messages[0].content", None),
        ("POST", CHAT, {"json": {**OK, "temperature": "hot"}}, 400, "temperature", None),
        ("POST", CHAT, {"json": {**OK, "stream": "sometimes"}}, 400, "stream", None),
        ("POST", CHAT, {"json": {**OK, "n": 3}}, 400, "n", None),
        ("POST", CHAT, {"json": {**OK, "tools": [{"type": "function", "function": {"name": "f"}}]}}, 400, "tools",
         None),
        ("POST", CHAT, {"json": {**OK, "functions": [{"name": "f"}]}}, 400, "functions", None),
        ("POST", CHAT, {"json": {**OK, "modalities": ["text", "audio"]}}, 400, "modalities", None),
        ("POST", CHAT, {"json": {**OK, "frobnicate": True}}, 400, "frobnicate", None),
        ("POST", CHAT, {"json": {**OK, "top_k": 0}}, 400, "top_k", None),
        ("POST", CHAT, {"content": b'{"model": "' + b"x" * 1_100_000 + b'"}',
                        "headers": {"Content-Type": "application/json"}}, 413, None, "request_too_large"),
        ("GET", CHAT, {}, 405, None, "method_not_allowed"),
        ("GET", "v1/no-such-route", {}, 404, None, "unknown_url"),
        ("POST", CHAT, {"json": {**OK, "filters": {"since": "last May"}}}, 400, "filters", None),
        ("POST", CHAT, {"json": {**OK, "filters": {"colour": "red"}}}, 400, "filters", None),
        ("POST", CHAT, {"json": {**OK, "filters": {"publisher": 5}}}, 400, "filters", None),
        ("POST", CHAT, {"json": {**OK, "filters": "Sky News"}}, 400, "filters", None),
        ("POST", "v1/search", {"json": {"query": "ECHR", "filters": {"until": "2025-13-45"}}}, 400, "filters", None),
        ("POST", "v1/search", {"json": {"query": ""}}, 400, "query", None),
        ("POST", "v1/search", {"json": {"query": "ECHR", "k": 500}}, 400, "k", None),
        ("GET", "v1/articles", {"params": {"limit": "many"}}, 400, "limit", None),
        ("GET", "v1/articles/does-not-exist", {}, 404, "article_id", "article_not_found"),
        ("DELETE", "v1/articles/does-not-exist", {}, 404, "article_id", "article_not_found"),
        ("POST", "v1/articles", {"files": {"file": ("payload.exe", b"MZ\x90\x00", "application/octet-stream")}}, 400,
         "file", "upload_rejected"),
        ("POST", "v1/articles", {"data": {"nothing": "here"}}, 400, "file", None),
    ],
)
def test_every_error_is_answered_in_openai_shape(
    server: Server, method: str, path: str, send: dict[str, Any], status: int, param: str | None, code: str | None
) -> None:
    response = httpx.request(method, server.url + path, timeout=60, **send)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and error["code"] == code


# --- the README's examples, as written ---------------------------------------------------


def readme_examples() -> list[tuple[str, str]]:
    """(language, code) of every bash and python block of the README's HTTP API section."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## HTTP API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(bash|python)\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_examples_run_as_written(server: Server, tmp_path: Path) -> None:
    examples = readme_examples()
    assert [lang for lang, _ in examples].count("python") >= 2 and [lang for lang, _ in examples].count("bash") >= 2
    address = server.url.removeprefix("http://").rstrip("/")
    outputs = []
    for lang, code in examples:
        code = code.replace("127.0.0.1:7860", address)
        command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"{lang} example failed:\n{code}\n{done.stderr[-2000:]}"
        outputs.append(done.stdout)
    curl_answer = json.loads(outputs[0])
    assert curl_answer["choices"][0]["message"]["citations"], outputs[0]
    assert '"object":"list"' in outputs[1] and '"object":"article.upload"' in outputs[1], outputs[1]
    assert "refused: False" in outputs[2] and "Filtered: Sky News" in outputs[2]


# --- an upload, then questions about it, then its removal ------------------------------------


def test_an_uploaded_article_answers_through_the_api_until_it_is_deleted(server: Server, tmp_path: Path) -> None:
    client = openai_client(server)
    question = "How much will the Zorbian Lighthouse Act cost?"
    upload = httpx.post(server.url + "v1/articles", files={"file": ("zorb.txt", ZORB.encode(), "text/plain")},
                        timeout=120)
    assert upload.status_code == 201, upload.text
    article_id = upload.json()["articles"][0]["id"]
    detail = httpx.get(server.url + f"v1/articles/{article_id}", timeout=30).json()
    assert "Lighthouse Act 2031" in detail["text"] and detail["source"] == "zorb.txt"

    message = client.chat.completions.create(model="newsrag", messages=ask(question)).choices[0].message
    assert "40 million crowns" in message.content
    assert article_id in {c["article_id"] for c in message.model_extra["citations"]}

    again = httpx.post(server.url + "v1/articles", files={"file": ("copy.txt", ZORB.encode(), "text/plain")},
                       timeout=120)
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_article"

    deleted = httpx.delete(server.url + f"v1/articles/{article_id}", timeout=120)
    assert deleted.status_code == 200 and deleted.json() == {"id": article_id, "object": "article.deleted",
                                                             "deleted": True}
    message = client.chat.completions.create(model="newsrag", messages=ask(question)).choices[0].message
    assert article_id not in {c["article_id"] for c in message.model_extra["citations"]}
    assert httpx.get(server.url + f"v1/articles/{article_id}", timeout=30).status_code == 404


def test_twenty_concurrent_chats_while_an_article_is_indexed_through_the_api(server: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = openai_client(server)
    questions = [QUESTION, "Who wrote the op-ed with Starmer?", "What did Amnesty International UK say?",
                 "What did Suella Braverman say?"]

    def chat(i: int) -> tuple[bool, str]:
        messages = ask(questions[i % len(questions)])
        if i % 2:
            chunks = list(client.chat.completions.create(model="newsrag", messages=messages, stream=True))
            final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
            return final.choices[0].delta.model_extra["refused"], "".join(
                c.choices[0].delta.content or "" for c in chunks if c.choices)
        message = client.chat.completions.create(model="newsrag", messages=messages).choices[0].message
        return message.model_extra["refused"], message.content or ""

    article = ZORB.replace("Zorbian", "Quellish").replace("40 million crowns", "12 million florins")
    with ThreadPoolExecutor(max_workers=21) as pool:
        upload = pool.submit(httpx.post, server.url + "v1/articles", timeout=300,
                             files={"file": ("quellish.txt", article.encode(), "text/plain")})
        chats = [pool.submit(chat, i) for i in range(20)]
        results = [future.result(timeout=300) for future in chats]
        uploaded = upload.result(timeout=300)
    assert uploaded.status_code == 201, uploaded.text
    assert all(not refused and "[1]" in content for refused, content in results), results
    message = client.chat.completions.create(
        model="newsrag", messages=ask("How much will the Quellish Lighthouse Act cost?")).choices[0].message
    assert "12 million florins" in message.content
    article_id = uploaded.json()["articles"][0]["id"]
    assert httpx.delete(server.url + f"v1/articles/{article_id}", timeout=120).status_code == 200


@pytest.mark.llm
def test_a_stream_the_client_drops_gives_its_answer_slot_back(seed_settings: Settings, tmp_path: Path) -> None:
    running = start_api(copy_seed_index(seed_settings, tmp_path), tmp_path, RAG_CONCURRENCY_LIMIT="1")
    try:
        body = {"model": "newsrag-local", "stream": True, "messages": ask(QUESTION)}
        for _ in range(2):  # dropped after the first event, while the local model is still judging the quotes
            with httpx.stream("POST", running.url + CHAT, json=body, timeout=120) as stream:
                assert next(stream.iter_lines()).startswith("data: ")
        # the only slot comes back: an answer arrives (a leaked slot would make this wait until the timeout)
        reply = httpx.post(running.url + CHAT, json={**body, "model": "newsrag-extractive", "stream": False},
                           timeout=90)
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["citations"]
    finally:
        stop_app(running.process)


# --- keys, the login, CORS (`rag serve`, the API alone) -----------------------------------------


def test_api_keys_guard_every_v1_route_and_cors_is_opt_in(seed_settings: Settings, tmp_path: Path) -> None:
    running = start_api(copy_seed_index(seed_settings, tmp_path), tmp_path, RAG_API_KEYS="first-key,second-key",
                        RAG_CORS_ORIGINS="https://app.example.com")
    try:
        url = running.url
        missing = httpx.post(url + CHAT, json=OK, timeout=30)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["code"] == "invalid_api_key"
        assert "didn't provide an API key" in missing.json()["error"]["message"]
        wrong = httpx.get(url + "v1/models", headers={"Authorization": "Bearer not-a-key-at-all"}, timeout=30)
        assert wrong.status_code == 401 and "not-a-key-at-all" not in wrong.text
        for path in ("v1/articles/x", "v1/no-such-route"):
            assert httpx.get(url + path, timeout=30).status_code == 401
        assert httpx.get(url + "docs", timeout=30).status_code == 200
        assert httpx.get(url + "health", timeout=30).json()["status"] == "ok"
        client = openai_client(running, key="second-key")
        reply = client.chat.completions.create(model="newsrag", messages=ask(QUESTION))
        assert reply.choices[0].message.model_extra["citations"]
        # a fifth wrong key within the minute: the address waits, even with a right key
        assert httpx.get(url + "v1/articles", timeout=30).status_code == 401
        limited = httpx.get(url + "v1/models", headers={"Authorization": "Bearer first-key"}, timeout=30)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"

        preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"}
        allowed = httpx.options(url + CHAT, headers=preflight, timeout=30)
        assert allowed.headers.get("access-control-allow-origin") == "https://app.example.com"
        other = httpx.options(url + CHAT, headers={**preflight, "Origin": "https://evil.example"}, timeout=30)
        assert "access-control-allow-origin" not in other.headers
    finally:
        stop_app(running.process)


def test_without_keys_the_api_is_closed_when_the_app_needs_a_login(seed_settings: Settings, tmp_path: Path) -> None:
    running = start_api(copy_seed_index(seed_settings, tmp_path), tmp_path, RAG_AUTH="alice:s3cret")
    try:
        closed = httpx.get(running.url + "v1/models", timeout=30)
        assert closed.status_code == 401 and "RAG_API_KEYS" in closed.json()["error"]["message"]
        # CORS is off by default: no page of another origin may read a reply
        preflight = httpx.options(running.url + CHAT, headers={"Origin": "https://app.example.com",
                                                              "Access-Control-Request-Method": "POST"}, timeout=30)
        assert "access-control-allow-origin" not in preflight.headers
    finally:
        stop_app(running.process)


# --- the default backend, the real local model ---------------------------------------------------


@pytest.mark.llm
def test_the_local_model_answers_through_the_api_as_through_the_chain(server: Server, seed_settings: Settings) -> None:
    expected = build_chain(seed_settings.model_copy(update={"backend": "local"})).invoke(QUESTION)
    client = openai_client(server)
    message = client.chat.completions.create(model="newsrag-local", messages=ask(QUESTION)).choices[0].message
    assert message.content == expected.answer
    assert message.model_extra["citations"] == citations(expected)
    streamed = list(client.chat.completions.create(model="newsrag-local", messages=ask(QUESTION), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == expected.answer


# --- the OpenAPI docs ------------------------------------------------------------------------------


def test_openapi_lists_every_route() -> None:
    from rag.server.api import build_api

    app = build_api(Settings(backend="extractive"))
    paths = {path: set(ops) for path, ops in app.openapi()["paths"].items()}
    assert paths == {
        "/v1/models": {"get"}, "/v1/models/{model}": {"get"}, "/v1/chat/completions": {"post"},
        "/v1/search": {"post"}, "/v1/articles": {"get", "post"}, "/v1/articles/{article_id}": {"get", "delete"},
        "/health": {"get"},
    }


@pytest.mark.browser
def test_the_docs_page_renders_every_route_without_leaving_127_0_0_1(server: Server, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server.url + "docs", wait_until="load")
    page.locator(".opblock").first.wait_for(state="visible", timeout=30_000)
    shown = {(block.locator(".opblock-summary-method").inner_text().lower(),
              block.locator(".opblock-summary-path").inner_text().replace("\u200b", ""))
             for block in page.locator(".opblock").all()}
    context.close()
    expected = {(method, path) for path, ops in httpx.get(server.url + "openapi.json", timeout=30).json()["paths"].items()
                for method in ops}
    assert shown == expected
    assert all(url.startswith(server.url) for url in requests), [u for u in requests if not u.startswith(server.url)]
