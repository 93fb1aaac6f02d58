"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for upload and download tests without a network.

It answers the requests ``HfApi.create_repo``/``upload_folder`` and ``snapshot_download`` make (repo creation,
preupload -> every file "regular", the NDJSON commit, repo info, file download), keeps the committed files in
memory, and records every request. It stops by itself: after ``max_requests`` requests or ``lifetime`` seconds,
whichever comes first, and when its ``with`` block ends; every socket has a timeout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import yaml

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    def __init__(self, max_requests: int = 200, lifetime: float = 120.0) -> None:
        self.requests: list[dict] = []  # method, path, json body (commit bodies: the NDJSON lines)
        self.files: dict[tuple[str, str], dict[str, bytes]] = {}  # (repo_type, repo_id) -> path -> content
        self.max_requests, self.lifetime = max_requests, lifetime
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # seconds per socket read

            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
                self.send_response(status)
                for k, v in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _handle(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = unquote(urlparse(self.path).path)
                record = {"method": method, "path": path, "body": raw, "headers": dict(self.headers)}
                stand_in.requests.append(record)
                if len(stand_in.requests) >= stand_in.max_requests:
                    threading.Thread(target=stand_in.server.shutdown, daemon=True).start()
                status, body, headers = stand_in.route(method, path, raw)
                self._answer(status, body, headers, head=method == "HEAD")

            def do_GET(self):
                self._handle("GET")

            def do_HEAD(self):
                self._handle("HEAD")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    # ------------------------------------------------------------------ routes
    def route(self, method: str, path: str, raw: bytes):
        js = {"Content-Type": "application/json"}
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/api/repos/create":
            body = json.loads(raw)
            kind = body.get("type") or "model"
            repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
            self.files.setdefault((kind, repo_id), {})
            prefix = "" if kind == "model" else f"{kind}s/"
            return 200, json.dumps({"url": f"{self.endpoint}/{prefix}{repo_id}", "name": repo_id}).encode(), js
        if method == "POST" and path == "/api/validate-yaml":  # README front matter: must be a YAML mapping
            content = json.loads(raw)["content"]
            try:
                ok = isinstance(yaml.safe_load(content.split("---")[1]), dict)
            except (yaml.YAMLError, IndexError):
                ok = False
            errors = [] if ok else [{"message": "invalid YAML front matter"}]
            return (200 if ok else 400), json.dumps({"errors": errors, "warnings": []}).encode(), js
        if parts[0] == "api" and len(parts) >= 5 and parts[1] in ("models", "datasets"):
            kind, repo_id, action = parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[4]
            if method == "POST" and action == "preupload":
                files = json.loads(raw)["files"]
                answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                return 200, json.dumps({"files": answer, "commitOid": COMMIT}).encode(), js
            if method == "POST" and action == "commit":
                stored = self.files.setdefault((kind, repo_id), {})
                for line in raw.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        stored[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                url = f"{self.endpoint}/{'' if kind == 'model' else kind + 's/'}{repo_id}/commit/{COMMIT}"
                return 200, json.dumps({"commitUrl": url, "commitOid": COMMIT, "pullRequestUrl": None}).encode(), js
            if method == "GET" and action == "tree":
                stored = self.files.get((kind, repo_id), {})
                entries = [
                    {"type": "file", "path": p, "size": len(c), "oid": hashlib.sha1(c).hexdigest()}
                    for p, c in sorted(stored.items())
                ]
                return 200, json.dumps(entries).encode(), js
            if method == "GET" and action == "revision":
                stored = self.files.get((kind, repo_id))
                if stored is None:
                    return 404, b'{"error": "Repository not found"}', {**js, "X-Error-Code": "RepoNotFound"}
                siblings = [{"rfilename": p, "size": len(c)} for p, c in sorted(stored.items())]
                info = {"id": repo_id, "sha": COMMIT, "siblings": siblings, "private": False}
                return 200, json.dumps(info).encode(), js
        # file download: /datasets/<user>/<name>/resolve/<rev>/<path> (models without the prefix)
        kind = "dataset" if parts[0] == "datasets" else "model"
        rest = parts[1:] if kind == "dataset" else parts
        if method in ("GET", "HEAD") and len(rest) >= 5 and rest[2] == "resolve":
            content = self.files.get((kind, f"{rest[0]}/{rest[1]}"), {}).get("/".join(rest[4:]))
            if content is None:
                return 404, b"", {"X-Error-Code": "EntryNotFound"}
            etag = hashlib.sha1(content).hexdigest()
            return (
                200,
                content,
                {"Content-Type": "application/octet-stream", "ETag": f'"{etag}"', "X-Repo-Commit": COMMIT},
            )
        return 404, b'{"error": "not found"}', js

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> HubStandIn:
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.timer = threading.Timer(self.lifetime, self.server.shutdown)
        self.timer.daemon = True
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def paths(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in self.requests if method is None or r["method"] == method]
