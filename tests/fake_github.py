"""A tiny fake of the GitHub REST endpoints the action uses, served over real HTTP.

List comments (paginated with ``Link`` headers, as GitHub does), create and update a
comment, list the pull requests of a commit. ``forbid_writes`` answers writes with
403 the way a fork's read-only token is answered; ``fail`` maps ``(METHOD, path
regex)`` to a status for anything else a test needs to break.
"""

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
        self.fail: dict[tuple[str, str], int] = {}
        self.requests: list[tuple[str, str]] = []
        self.base = ""
        self._next_id = 1000

    def add_comment(self, number: int, body: str, user: str = "someone") -> dict:
        """A comment by a person; the token's own comments are by github-actions[bot]."""
        self._next_id += 1
        kind = "Bot" if user.endswith("[bot]") else "User"
        comment = {"id": self._next_id, "body": body, "user": {"login": user, "type": kind}}
        self.comments.setdefault(number, []).append(comment)
        return comment

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] in ("POST", "PATCH")]

    def _page(self, items: list, path: str, query: dict) -> tuple[int, object, dict]:
        page, per = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
        headers = {}
        if page * per < len(items):
            headers["Link"] = f'<{self.base}{path}?per_page={per}&page={page + 1}>; rel="next"'
        return 200, items[(page - 1) * per: page * per], headers

    def handle(self, method: str, url: str, headers, body: bytes) -> tuple[int, object, dict]:
        self.requests.append((method, url))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        for (fail_method, pattern), status in self.fail.items():
            if fail_method == method and re.fullmatch(pattern, parts.path):
                return status, {"message": f"HTTP {status} from the fake"}, {}
        if m := re.fullmatch(r"/repos/[^/]+/[^/]+/issues/(\d+)/comments", parts.path):
            number = int(m.group(1))
            if method == "GET":
                return self._page(self.comments.get(number, []), parts.path, query)
            if method == "POST":
                if self.forbid_writes:
                    return 403, {"message": "Resource not accessible by integration"}, {}
                return 201, self.add_comment(number, json.loads(body)["body"], "github-actions[bot]"), {}
        if m := re.fullmatch(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)", parts.path):
            if method == "PATCH":
                if self.forbid_writes:
                    return 403, {"message": "Resource not accessible by integration"}, {}
                for comments in self.comments.values():
                    for comment in comments:
                        if comment["id"] == int(m.group(1)):
                            comment["body"] = json.loads(body)["body"]
                            return 200, comment, {}
                return 404, {"message": "Not Found"}, {}
        if m := re.fullmatch(r"/repos/[^/]+/[^/]+/commits/([0-9a-f]+)/pulls", parts.path):
            if method == "GET":
                return self._page(self.pulls.get(m.group(1), []), parts.path, query)
        return 404, {"message": "Not Found"}, {}


@contextmanager
def serving(fake: FakeGitHub):
    """The fake on 127.0.0.1 in a thread; yields its base URL (what GITHUB_API_URL would be)."""

    class Handler(BaseHTTPRequestHandler):
        def _do(self):
            length = int(self.headers.get("Content-Length") or 0)
            status, payload, extra = fake.handle(self.command, self.path, self.headers, self.rfile.read(length))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _do

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake.base
    finally:
        server.shutdown()
        server.server_close()
