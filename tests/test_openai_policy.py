"""OpenAIPolicy against a local OpenAI-compatible server (a small stand-in of vLLM's chat-completions endpoint)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mrlm_hf import OpenAIPolicy, collect_trajectories, make_env


class ChatServer(ThreadingHTTPServer):
    """Answers ``What is a + b?`` correctly, records every request body, and can be told to fail."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict] = []
        self.fail_with: int | None = None
        self.reply: dict | None = None  # a fixed choice to return instead of solving
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if self.server.fail_with:
            self._send(self.server.fail_with, {"error": {"message": "model overloaded"}})
            return
        if self.server.reply is not None:
            choice = self.server.reply
        else:
            question = body["messages"][-1]["content"]
            match = re.search(r"(-?\d+) ([-+*/]) (-?\d+)", question)
            a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
            value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else 0}[op]
            choice = {"message": {"role": "assistant", "content": f"The answer is {value}."}, "finish_reason": "stop"}
        self._send(200, {"id": "x", "object": "chat.completion", "choices": [{"index": 0, **choice}]})

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_rollouts_through_a_chat_completions_server(server):
    policy = OpenAIPolicy(server.base_url, "my-model", max_tokens=32, temperature=0.5, api_key="k", seed=10)
    data = collect_trajectories("math", policy, 12, env_kwargs={"difficulty": 1}, seed=0, num_envs=4, progress=False)
    assert data["success"] == [True] * 12  # the server's answers went back into the environments
    assert len(server.requests) == 12
    # Requests run concurrently, so arrival order is not conversation order; seeds are given in conversation order.
    first = next(r for r in server.requests if r["seed"] == 10)  # the first environment's (seed 0) first step
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer k"
    assert first["model"] == "my-model" and first["max_tokens"] == 32 and first["temperature"] == 0.5
    env = make_env("math", difficulty=1)
    env.reset(seed=0)
    assert [m["role"] for m in first["messages"]][-1] == "user"
    assert any(env.question in m["content"] for m in first["messages"])  # the observation is the last user turn
    assert sorted(r["seed"] for r in server.requests) == list(range(10, 22))  # seed + i per request
    assert "stop" not in first  # math declares no stop strings


def test_stop_strings_travel_and_are_restored(server):
    env = make_env("tools")
    env.reset(seed=0)
    conversation = [{"role": "user", "content": "use a tool"}]
    server.reply = {
        "message": {"role": "assistant", "content": '<tool_call>{"name": "calculator"}'},
        "finish_reason": "stop",
        "stop_reason": "</tool_call>",
    }
    policy = OpenAIPolicy(server.base_url, "m", stop_strings=["STOP"])
    (action,) = policy([conversation], [env])
    assert server.requests[-1]["stop"] == ["STOP", "</tool_call>"]
    assert action == '<tool_call>{"name": "calculator"}</tool_call>'  # as a local model policy would return it
    # Text past a stop string is cut here as well (a server that ignored ``stop``).
    server.reply = {"message": {"role": "assistant", "content": "a STOP b"}, "finish_reason": "length"}
    assert policy([conversation], [env]) == ["a STOP"]


def test_server_errors_are_errors_that_say_what_to_do(server):
    server.fail_with = 503
    policy = OpenAIPolicy(server.base_url, "m")
    with pytest.raises(RuntimeError, match="HTTP 503.*overloaded"):
        policy([[{"role": "user", "content": "What is 1 + 2?"}]])
    server.fail_with = None
    server.reply = {"finish_reason": "stop"}  # no message
    with pytest.raises(RuntimeError, match=r"without choices\[0\].message.content"):
        policy([[{"role": "user", "content": "What is 1 + 2?"}]])
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}.*base_url"):
        OpenAIPolicy(f"http://127.0.0.1:{port}/v1", "m", timeout=5)([[{"role": "user", "content": "hi"}]])
    assert OpenAIPolicy(f"http://127.0.0.1:{port}/v1", "m")([]) == []


@pytest.mark.slow
def test_rollouts_through_transformers_serve(tmp_path):
    """The real thing: ``transformers serve`` (pip install "transformers[serving]") on a tiny local model."""
    import os
    import socket
    import subprocess
    import time
    import urllib.request

    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from mrlm_hf.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer(["What is 1 + 2? The answer is 3."] * 5)
    build_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = ["transformers", "serve", str(tmp_path / "model"), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        policy = OpenAIPolicy(f"http://127.0.0.1:{port}/v1", str(tmp_path / "model"), max_tokens=8, concurrency=2)
        data = collect_trajectories("math", policy, 4, env_kwargs={"max_turns": 2}, seed=0, progress=False)
        assert len(data) == 4 and all(len(a) == len(r) >= 1 for a, r in zip(data["actions"], data["rewards"]))
        assert all(isinstance(action, str) for actions in data["actions"] for action in actions)
    finally:
        process.terminate()
        process.wait(timeout=30)
