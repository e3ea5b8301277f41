"""A tiny fake of the GitHub REST endpoints the action uses, served over real HTTP."""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeGitHub:
    def __init__(self, token: str = "ghs_faketoken"):
        self.token = token
        self.comments: dict[int, list[dict]] = {}
        self.pulls: dict[str, list[dict]] = {}
        self.forbid_writes = False
        self.requests: list[tuple[str, str]] = []
        self._next_id = 1000

    def handle(self, method: str, url: str, headers, body: bytes) -> tuple[int, object]:
        self.requests.append((method, url))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if m := re.fullmatch(r"/repos/[^/]+/[^/]+/issues/(\d+)/comments", parts.path):
            number = int(m.group(1))
            if method == "GET":
                page, per = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
                return 200, self.comments.get(number, [])[(page - 1) * per: page * per]
            if method == "POST":
                if self.forbid_writes:
                    return 403, {"message": "Resource not accessible by integration"}
                self._next_id += 1
                comment = {"id": self._next_id, "body": json.loads(body)["body"]}
                self.comments.setdefault(number, []).append(comment)
                return 201, comment
        if m := re.fullmatch(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)", parts.path):
            if method == "PATCH":
                if self.forbid_writes:
                    return 403, {"message": "Resource not accessible by integration"}
                for comments in self.comments.values():
                    for comment in comments:
                        if comment["id"] == int(m.group(1)):
                            comment["body"] = json.loads(body)["body"]
                            return 200, comment
                return 404, {"message": "Not Found"}
        if m := re.fullmatch(r"/repos/[^/]+/[^/]+/commits/([0-9a-f]+)/pulls", parts.path):
            return 200, self.pulls.get(m.group(1), [])
        return 404, {"message": "Not Found"}


@contextmanager
def serving(fake: FakeGitHub):
    class Handler(BaseHTTPRequestHandler):
        def _do(self):
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = fake.handle(self.command, self.path, self.headers, self.rfile.read(length))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _do

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
