"""A real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose.

Each request to /v1/chat/completions takes the next behaviour from a script: a text answer,
a tool-call answer, an HTTP status, a stall longer than the client's timeout, or a body that
is not JSON at all. Bounded: it only ever serves loopback and stops with its context manager.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    """What the server does for one request."""

    kind: str  # "text" | "tool" | "status" | "stall" | "garbage"
    body: str = ""
    status: int = 200
    seconds: float = 0.0


def text(content: str) -> Behaviour:
    return Behaviour("text", body=content)


def tool(arguments: str) -> Behaviour:
    return Behaviour("tool", body=arguments)


def status(code: int) -> Behaviour:
    return Behaviour("status", status=code)


def stall(seconds: float) -> Behaviour:
    return Behaviour("stall", seconds=seconds)


GARBAGE = Behaviour("garbage", body="<html>502 Bad Gateway</html>")


def _completion(message: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-misbehave",
            "object": "chat.completion",
            "created": 0,
            "model": "misbehave",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    ).encode()


class MisbehavingServer:
    """Serves scripted behaviours; `default` once the script runs out; counts requests."""

    def __init__(self, script: list[Behaviour], default: Behaviour) -> None:
        self.script = deque(script)
        self.default = default
        self.requests = 0
        self.lock = threading.Lock()

    def next_behaviour(self) -> Behaviour:
        with self.lock:
            self.requests += 1
            return self.script.popleft() if self.script else self.default


def _handler(server: MisbehavingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if code == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
            b = server.next_behaviour()
            if b.kind == "stall":
                time.sleep(b.seconds)
                self._send(200, _completion({"role": "assistant", "content": "{}"}))
            elif b.kind == "status":
                self._send(b.status, json.dumps({"error": {"message": "scripted"}}).encode())
            elif b.kind == "garbage":
                self._send(200, b.body.encode(), "text/html")
            elif b.kind == "tool":
                call = {"id": "call_1", "type": "function",
                        "function": {"name": "answer", "arguments": b.body}}  # fmt: skip
                self._send(200, _completion({"role": "assistant", "content": None,
                                             "tool_calls": [call]}))  # fmt: skip
            else:
                self._send(200, _completion({"role": "assistant", "content": b.body}))

    return Handler


@contextmanager
def misbehaving_server(
    script: list[Behaviour], default: Behaviour
) -> Iterator[tuple[str, MisbehavingServer]]:
    """Yield (base URL, server state) for a loopback server running in a thread."""
    state = MisbehavingServer(script, default)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
