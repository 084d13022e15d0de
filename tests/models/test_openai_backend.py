"""OpenAIBackend against a real OpenAI-compatible server (llama-cpp-python, SmolLM2-135M)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from llm_server import MODEL_ALIAS, free_port, llama_server, require_llama_server, smollm2_gguf

from cf_agent.models.llm.openai_compat import BackendError, OpenAIBackend
from cf_agent.proposers import ChatMessage

pytestmark = [pytest.mark.server, pytest.mark.slow]

SECRET_KEY = "sk-test-SECRET123"
KEY_ENV_VARS = ("CF_AGENT_OPENAI_API_KEY", "OPENAI_API_KEY")
URL_ENV_VARS = ("CF_AGENT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
STEPS_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "integer", "minimum": 0, "maximum": 40000},
        # Without a length cap the 135M model rambles inside the string until max_new_tokens
        # cuts the JSON off; the server's grammar enforces maxLength.
        "rationale": {"type": "string", "maxLength": 80},
    },
    "required": ["steps", "rationale"],
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys or URLs in the developer's shell must not change what these tests exercise."""
    for name in (*KEY_ENV_VARS, *URL_ENV_VARS):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    require_llama_server()
    with llama_server(smollm2_gguf(), n_ctx=2048, n_threads=1) as url:
        yield url


def ask(text: str) -> list[ChatMessage]:
    return [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": text},
    ]


def test_plain_chat_returns_text_and_usage(server_url: str) -> None:
    backend = OpenAIBackend(MODEL_ALIAS, base_url=server_url)

    [generation] = backend.generate([ask("Name one fruit.")], max_new_tokens=16)

    assert generation.error is None
    assert generation.text.strip()
    assert generation.tokens_in > 0
    assert 0 < generation.tokens_out <= 16
    assert generation.latency_s > 0


def test_base_url_comes_from_env_when_not_given(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CF_AGENT_OPENAI_BASE_URL", server_url)
    backend = OpenAIBackend(MODEL_ALIAS)

    [generation] = backend.generate([ask("Say hi.")], max_new_tokens=8)

    assert backend.base_url == server_url
    assert generation.error is None
    assert generation.text.strip()


def test_structured_generation_returns_tool_call_json(server_url: str) -> None:
    # The 135M model's values are often wrong (it answers 10 steps); the server constrains the
    # forced tool call with a grammar built from the schema, so the shape is right.
    backend = OpenAIBackend(MODEL_ALIAS, base_url=server_url)
    prompt = "How many daily steps should a sedentary adult aim for? Answer with steps and why."

    [generation] = backend.generate([ask(prompt)], json_schema=STEPS_SCHEMA, max_new_tokens=96)

    assert generation.error is None
    parsed = json.loads(generation.text)
    assert isinstance(parsed, dict)
    assert set(parsed) == {"steps", "rationale"}
    assert isinstance(parsed["steps"], int)
    assert generation.tokens_out > 0


def test_each_conversation_may_carry_its_own_schema(server_url: str) -> None:
    # The server turns each forced tool call's schema into a grammar: the keys show which
    # schema each answer followed (it ignores numeric ranges, so those are checked by us).
    sleep_schema = {
        **STEPS_SCHEMA,
        "properties": {
            "sleep_minutes": {"type": "integer", "minimum": 0, "maximum": 720},
            "rationale": STEPS_SCHEMA["properties"]["rationale"],
        },
        "required": ["sleep_minutes", "rationale"],
    }
    backend = OpenAIBackend(MODEL_ALIAS, base_url=server_url, concurrency=2)
    prompt = "Suggest one healthy daily habit, and say why."

    steps_gen, sleep_gen, free_gen = backend.generate(
        [ask(prompt)] * 3, json_schema=[STEPS_SCHEMA, sleep_schema, None], max_new_tokens=96
    )

    assert steps_gen.error is None and sleep_gen.error is None and free_gen.error is None
    assert set(json.loads(steps_gen.text)) == {"steps", "rationale"}
    assert set(json.loads(sleep_gen.text)) == {"sleep_minutes", "rationale"}
    assert free_gen.text.strip()


def test_results_follow_input_order_under_concurrency(server_url: str) -> None:
    # Prompts of clearly different lengths: prompt token counts identify each result.
    conversations = [ask("Say ok. " + "padding " * (40 * size)) for size in (2, 0, 1)]
    backend = OpenAIBackend(MODEL_ALIAS, base_url=server_url, concurrency=2)

    generations = backend.generate(conversations, max_new_tokens=4)

    assert [g.error for g in generations] == [None, None, None]
    short, middle, long = sorted(g.tokens_in for g in generations)
    assert [g.tokens_in for g in generations] == [long, short, middle]
    assert short < middle < long


def test_server_down_gives_one_error_per_conversation() -> None:
    closed_url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend(MODEL_ALIAS, base_url=closed_url, max_retries=2, backoff_s=0.01)

    generations = backend.generate([ask("a"), ask("b")], max_new_tokens=4)

    assert len(generations) == 2
    for generation in generations:
        assert generation.text == ""
        assert generation.error is not None
        assert "Connection refused" in generation.error
        assert closed_url in generation.error
        assert "gave up after 3 attempts" in generation.error


class RateLimitedHandler(BaseHTTPRequestHandler):
    """Answers every request with 429 and `Retry-After: 0`, as a throttling gateway does."""

    requests_seen = 0

    def do_POST(self) -> None:
        type(self).requests_seen += 1
        body = b'{"error": {"message": "Rate limit reached", "type": "requests"}}'
        self.send_response(429)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


def test_rate_limit_is_retried_then_reported() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RateLimitedHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        backend = OpenAIBackend(MODEL_ALIAS, base_url=url, max_retries=2, backoff_s=0.01)

        [generation] = backend.generate([ask("a")], max_new_tokens=4)
    finally:
        server.shutdown()
        server.server_close()

    assert RateLimitedHandler.requests_seen == 3
    assert generation.error is not None
    assert "HTTP 429" in generation.error
    assert "Rate limit reached" in generation.error
    assert "gave up after 3 attempts" in generation.error


def test_request_rejected_by_server_is_reported_not_retried(server_url: str) -> None:
    backend = OpenAIBackend(MODEL_ALIAS, base_url=server_url, backoff_s=0.01)
    too_long = ask("word " * 5000)  # far beyond n_ctx=2048

    [generation] = backend.generate([too_long], max_new_tokens=4)

    assert generation.error is not None
    assert "HTTP 400" in generation.error
    assert "not retried" in generation.error


def test_api_key_never_leaks(server_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    closed_url = f"http://127.0.0.1:{free_port()}/v1"
    # A trailing newline (key pasted from a file) once made httpx quote the key in its error.
    live = OpenAIBackend(
        MODEL_ALIAS, base_url=server_url, api_key=SECRET_KEY + "\n", backoff_s=0.01
    )
    down = OpenAIBackend(
        MODEL_ALIAS, base_url=closed_url, api_key=SECRET_KEY, max_retries=1, backoff_s=0.01
    )

    answered = live.generate([ask("Say hi."), ask("word " * 5000)], max_new_tokens=8)
    failed = down.generate([ask("Say hi.")], max_new_tokens=8)

    assert answered[0].error is None
    assert answered[1].error is not None
    assert failed[0].error is not None
    texts = [repr(live), str(down), *(g.model_dump_json() for g in answered + failed)]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "retries and failures should have been logged"
    assert not [text for text in texts if SECRET_KEY in text]


def test_missing_key_for_openai_names_the_env_var() -> None:
    with pytest.raises(BackendError) as raised:
        OpenAIBackend("gpt-4o")

    assert raised.value.exit_code == 7
    assert "CF_AGENT_OPENAI_API_KEY" in str(raised.value)
    assert "OPENAI_API_KEY" in str(raised.value)


def test_key_comes_from_env_and_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)

    backend = OpenAIBackend("gpt-4o")

    assert backend.model_string == "openai:gpt-4o"
    assert backend.base_url == "https://api.openai.com/v1"
    assert SECRET_KEY not in repr(backend)


def test_key_with_inner_whitespace_is_rejected_without_showing_it() -> None:
    with pytest.raises(BackendError) as raised:
        OpenAIBackend(MODEL_ALIAS, base_url="http://127.0.0.1:1/v1", api_key="sk-test-SECRET 123")

    assert "SECRET" not in str(raised.value)
    assert "OPENAI_API_KEY" in str(raised.value)


def test_invalid_settings_raise_backend_error() -> None:
    with pytest.raises(BackendError, match="concurrency=0"):
        OpenAIBackend(MODEL_ALIAS, base_url="http://127.0.0.1:1/v1", concurrency=0)
