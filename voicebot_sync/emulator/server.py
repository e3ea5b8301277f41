"""The emulator over the wire: a WSGI app, a threaded HTTP server, the in-process
transport behind ``--api-url local``, and the ``emulator`` command's serve loop."""

from __future__ import annotations

import contextlib
import http
import os
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator


from .core import PREFIX, Emulator

# -- adapters ----------------------------------------------------------------


def make_wsgi_app(emulator: Emulator) -> Callable:
    """A WSGI app over ``emulator``, e.g. for ``httpx.WSGITransport(app=...)``."""

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        # WSGI decodes PATH_INFO; the emulator routes on the path as sent, so encode it again
        # (an id holding "/" cannot survive WSGI: the in-process transport below sends the raw path).
        path = urllib.parse.quote(environ.get("PATH_INFO", ""), safe="/")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        response = emulator.handle(environ["REQUEST_METHOD"], path, headers, body)
        if response.drop:
            raise ConnectionAbortedError("connection dropped by emulator")
        status = f"{response.status} {http.HTTPStatus(response.status).phrase}"
        start_response(status, [*response.headers.items(), ("Content-Length", str(len(response.body)))])
        return [response.body]

    return app


class _Handler(BaseHTTPRequestHandler):
    """Feeds each HTTP/1.1 request to the server's emulator."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections must not pin a thread for ever
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40ms delayed-ACK stall
    emulator: Emulator  # set on the subclass that ``serve`` builds

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the CLI decides what to print
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.emulator.handle(self.command, self.path, dict(self.headers.items()), body)
        if response.drop:
            # Act as a server that died after the write: no status line, just a closed socket.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self._send_body(response.body)

    def _send_body(self, body: bytes) -> None:
        delay = self.emulator.trickle
        if not delay:
            self.wfile.write(body)
            return
        # The headers went out with end_headers; now one byte per ``delay`` seconds.
        stopping = getattr(self.server, "stopping", None) or threading.Event()
        for i in range(len(body)):
            if stopping.wait(delay):  # the server is shutting down: give up on this answer
                self.close_connection = True
                return
            try:
                self.wfile.write(body[i : i + 1])
            except OSError:  # the client went away
                self.close_connection = True
                return

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def __getattr__(self, name: str) -> Any:
        # Every other method (TRACE, CONNECT, WebDAV's ...) reaches the emulator too, which answers the
        # JSON 405 of the API instead of http.server's HTML 501 page.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)


class _Server(ThreadingHTTPServer):
    """Daemon handler threads, and a ``stopping`` event that ends trickled answers at shutdown."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any):
        self.stopping = threading.Event()  # before binding: a failed bind calls server_close
        super().__init__(*args, **kwargs)

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()

    def server_close(self) -> None:
        self.stopping.set()
        super().server_close()


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A bound (not yet serving) HTTP server for ``emulator``; call ``serve_forever`` on it."""
    handler = type("EmulatorHandler", (_Handler,), {"emulator": emulator})
    return _Server((host, port), handler)


def _base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = f"[{host}]" if ":" in str(host) else host
    return f"http://{host}:{port}{PREFIX}"


@contextlib.contextmanager
def running(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``emulator`` in a daemon thread; yields the base API URL (``http://H:P/voicebot/v1``)."""
    server = serve(emulator, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield _base_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def local_transport(state_file: str):
    """An in-process httpx transport over an auth-free, unlimited emulator persisted in ``state_file``:
    the ``--api-url local`` backend. It hands the emulator the path exactly as sent, as a server sees it.

    Several processes may use the same file at once (``shared_file``): none loses another's writes.
    """
    import httpx  # only this adapter needs it

    os.makedirs(os.path.dirname(os.path.abspath(state_file)), exist_ok=True)
    emulator = Emulator(data_file=state_file, shared_file=True)

    class LocalTransport(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            answer = emulator.handle(request.method, request.url.raw_path.decode("ascii"), dict(request.headers),
                                     request.read())
            if answer.drop:
                raise httpx.RemoteProtocolError("connection dropped by emulator", request=request)
            return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

    return LocalTransport()


def main_serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    api_keys: list[str] | None = None,
    data_file: str | None = None,
    rate_limit: str | list[tuple[int, float]] | None = None,
    **faults: Any,
) -> int:
    """Serve until Ctrl-C (the CLI's ``emulator`` command); returns the exit code 0."""
    from ..core.schedule import format_window, parse_rate_limit

    windows = parse_rate_limit(rate_limit) if isinstance(rate_limit, str) or rate_limit is None else list(rate_limit)
    emulator = Emulator(api_keys=api_keys, rate_limit=windows, data_file=data_file, **faults)
    server = serve(emulator, host, port)
    spec = ",".join(format_window(w) for w in emulator.windows) or "off"
    # The keys are secrets: say how many there are, never which.
    print(
        f"voicebot-sync emulator listening on {_base_url(server)} "
        f"(keys: {len(emulator.api_keys)}, rate limit: {spec}, data: {data_file or 'memory'})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
