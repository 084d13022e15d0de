"""`openai:<model>` backend: GPT-4 or any OpenAI-compatible server, through langchain-openai.

Remote calls fail in ways local decoding never does (timeouts, refused connections, rate
limits), so each conversation gets bounded retries with exponential backoff and always ends
as a Generation, never an exception. The API key is scrubbed from every text this module
produces (errors, log lines, repr).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import openai
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from cf_agent.errors import CfAgentError
from cf_agent.models.llm.base import (
    Generation,
    JsonSchema,
    Schemas,
    schema_per_conversation,
)
from cf_agent.proposers import ChatMessage

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
BASE_URL_ENV_VARS = ("CF_AGENT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
API_KEY_ENV_VARS = ("CF_AGENT_OPENAI_API_KEY", "OPENAI_API_KEY")
# Local servers (llama.cpp, vLLM on loopback) ignore the key, but the client insists on one.
LOCAL_PLACEHOLDER_KEY = "sk-local-placeholder"
# A server asking us to wait longer than this is treated as unavailable for this run.
MAX_RETRY_AFTER_S = 60.0
DEFAULT_SCHEMA_TITLE = "answer"


class BackendError(CfAgentError):
    """The LLM backend cannot be used as configured (missing key, invalid settings)."""

    exit_code = 7


class OpenAIBackend:
    """Chat backend for the OpenAI API or any server that speaks its chat-completions protocol.

    Structured output uses function calling (a forced tool call), the one structured mode that
    both OpenAI and common local servers (llama-cpp-python) honour.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        concurrency: int = 4,
        temperature: float = 0.0,
    ) -> None:
        _check_settings(timeout_s, max_retries, backoff_s, concurrency)
        self.model = model
        self.model_string = f"openai:{model}"
        self.base_url = base_url or _first_env(BASE_URL_ENV_VARS) or OPENAI_BASE_URL
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = concurrency
        self.temperature = temperature
        self._api_key = SecretStr(_resolve_api_key(api_key, self.base_url))

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, api_key='***', "
            f"timeout_s={self.timeout_s}, max_retries={self.max_retries}, "
            f"backoff_s={self.backoff_s}, concurrency={self.concurrency}, "
            f"temperature={self.temperature})"
        )

    @property
    def parallel_queries(self) -> int:
        """How many queries the agent should run at once: as many as may be in flight."""
        return self.concurrency

    def generate(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        json_schema: Schemas = None,
        max_new_tokens: int = 256,
    ) -> list[Generation]:
        """Answer every conversation, concurrently; results are in input order."""
        if not conversations:
            return []
        schemas = schema_per_conversation(json_schema, len(conversations))
        runnables: dict[str, Runnable | Generation] = {}
        for schema in schemas:
            key = json.dumps(schema, sort_keys=True)
            if key not in runnables:
                try:
                    runnables[key] = self._runnable(schema, max_new_tokens)
                except Exception as exc:  # a schema langchain cannot turn into a tool, for one
                    error = f"could not prepare the request: {type(exc).__name__}: {exc}"
                    runnables[key] = Generation(text="", error=self._scrub(error))

        def answer(conversation: Sequence[ChatMessage], schema: JsonSchema | None) -> Generation:
            runnable = runnables[json.dumps(schema, sort_keys=True)]
            if isinstance(runnable, Generation):
                return runnable.model_copy()
            return self._generate_one(runnable, conversation, schema is not None)

        workers = min(self.concurrency, len(conversations))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(answer, conversations, schemas))

    def _runnable(self, json_schema: dict[str, Any] | None, max_new_tokens: int) -> Runnable:
        """The chat model, wrapped for a forced tool call when a schema is given."""
        chat = ChatOpenAI(
            model=self.model,
            base_url=self.base_url,
            api_key=self._api_key,
            timeout=self.timeout_s,
            max_retries=0,  # retries are ours: bounded, logged, Retry-After aware
            temperature=self.temperature,
            use_responses_api=False,
            **_token_limit(self.base_url, max_new_tokens),
        )
        if json_schema is None:
            return chat
        schema = {"title": DEFAULT_SCHEMA_TITLE, **ordered_required(json_schema)}
        return chat.with_structured_output(schema, method="function_calling", include_raw=True)

    def _generate_one(
        self, runnable: Runnable, conversation: Sequence[ChatMessage], structured: bool
    ) -> Generation:
        messages = [dict(message) for message in conversation]
        start = time.perf_counter()
        attempt = 0
        while True:
            try:
                output = runnable.invoke(messages)
            except Exception as exc:
                retryable = _is_retryable(exc)
                if not retryable or attempt >= self.max_retries:
                    return self._failure(exc, attempt + 1, retryable, start)
                delay = self._retry_delay(exc, attempt)
                logger.warning(
                    "%s; retry %d/%d in %.2fs",
                    self._describe(exc),
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
                attempt += 1
            else:
                message = output["raw"] if structured else output
                return _to_generation(message, structured, time.perf_counter() - start)

    def _failure(self, exc: Exception, attempts: int, retryable: bool, start: float) -> Generation:
        outcome = f"gave up after {attempts} attempts" if retryable else "not retried"
        error = f"{self._describe(exc)} ({outcome})"
        logger.warning("%s", error)
        return Generation(text="", error=error, latency_s=time.perf_counter() - start)

    def _describe(self, exc: Exception) -> str:
        """Name the failure in words a user can act on, without the API key."""
        if isinstance(exc, openai.APITimeoutError):
            text = f"timeout after {self.timeout_s}s waiting for {self.base_url}"
        elif isinstance(exc, openai.APIConnectionError):
            text = f"connection to {self.base_url} failed: {_root_cause(exc)}"
        elif isinstance(exc, openai.APIStatusError):
            text = f"HTTP {exc.status_code} from {self.base_url}: {exc.message}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        # Exact match suffices: keys are checked to be printable ASCII without spaces, which
        # error messages quote verbatim.
        return text.replace(self._api_key.get_secret_value(), "***")

    def _retry_delay(self, exc: Exception, attempt: int) -> float:
        retry_after = _retry_after_s(exc)
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER_S)
        return float(self.backoff_s * 2**attempt)


def ordered_required(json_schema: JsonSchema) -> JsonSchema:
    """The schema with `required` cut to the properties that lead the property order.

    llama.cpp's grammar writes required properties first, whatever their place: the answer
    schema's optional features, then its required rationale, would come back rationale first,
    values after (or none: the embedded adapter, trained on values first, then closes the
    object). A required property after an optional one therefore becomes optional, so every
    server keeps the schema's order; the answer parser accepts a missing rationale.
    """
    required = set(json_schema.get("required", ()))
    leading = []
    for name in json_schema.get("properties", {}):
        if name not in required:
            break
        leading.append(name)
    trimmed = {key: value for key, value in json_schema.items() if key != "required"}
    return {**trimmed, "required": leading} if leading else trimmed


def _check_settings(timeout_s: float, max_retries: int, backoff_s: float, concurrency: int) -> None:
    problems = []
    if timeout_s <= 0:
        problems.append(f"timeout_s={timeout_s} must be > 0")
    if max_retries < 0:
        problems.append(f"max_retries={max_retries} must be >= 0")
    if backoff_s < 0:
        problems.append(f"backoff_s={backoff_s} must be >= 0")
    if concurrency < 1:
        problems.append(f"concurrency={concurrency} must be >= 1")
    if problems:
        raise BackendError(
            "Invalid OpenAI backend settings: " + "; ".join(problems),
            fix="pass values in the ranges named above",
        )


def _first_env(names: Sequence[str]) -> str | None:
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def _resolve_api_key(api_key: str | None, base_url: str) -> str:
    # Keys pasted from files often carry a trailing newline, which HTTP clients then quote
    # (key included) in their "illegal header" errors.
    key = (api_key or _first_env(API_KEY_ENV_VARS) or "").strip()
    if key and not (key.isascii() and key.isprintable() and " " not in key):
        raise BackendError(
            "The API key contains spaces, control or non-ASCII characters (key not shown).",
            fix=f"check the key passed in, or {API_KEY_ENV_VARS[0]} / {API_KEY_ENV_VARS[1]}, "
            "for stray characters",
        )
    if key:
        return key
    if _is_loopback(base_url):
        return LOCAL_PLACEHOLDER_KEY
    raise BackendError(
        f"No API key for {base_url}: neither {API_KEY_ENV_VARS[0]} nor "
        f"{API_KEY_ENV_VARS[1]} is set.",
        fix=f"export {API_KEY_ENV_VARS[0]}=<your key> (or {API_KEY_ENV_VARS[1]}), "
        f"or point {BASE_URL_ENV_VARS[0]} at a local server on 127.0.0.1",
    )


def _is_loopback(base_url: str) -> bool:
    host = urlparse(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token_limit(base_url: str, max_new_tokens: int) -> dict[str, Any]:
    """OpenAI takes `max_completion_tokens`; compatible servers often only read `max_tokens`."""
    if urlparse(base_url).hostname == urlparse(OPENAI_BASE_URL).hostname:
        return {"max_tokens": max_new_tokens}  # langchain sends it as max_completion_tokens
    return {"extra_body": {"max_tokens": max_new_tokens}}


def _is_retryable(exc: Exception) -> bool:
    """Timeouts, refused connections, 429 and 5xx can pass; other errors will not."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code == 429 or exc.status_code >= 500
    )


def _retry_after_s(exc: Exception) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return max(0.0, float(value))
            except ValueError:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
    return None


def _root_cause(exc: BaseException) -> str:
    """The innermost error's message: '[Errno 111] Connection refused', not 'Connection error.'."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return str(exc) or type(exc).__name__


def _to_generation(message: AIMessage, structured: bool, latency_s: float) -> Generation:
    """Tool-call arguments for structured requests (the content if the model did not call)."""
    text = str(message.text)
    if structured and message.tool_calls:
        text = json.dumps(message.tool_calls[0]["args"])
    elif structured and message.invalid_tool_calls:
        text = message.invalid_tool_calls[0]["args"] or ""
    usage = message.usage_metadata
    return Generation(
        text=text,
        tokens_in=usage["input_tokens"] if usage else 0,
        tokens_out=usage["output_tokens"] if usage else 0,
        latency_s=latency_s,
    )
