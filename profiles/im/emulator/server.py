"""The HTTP side: :class:`EmulatorServer` serves an :class:`Emulator` on a loopback port, answering the
v4 REST calls (with any injected fault) and routing ``/_emulator/`` to its control API."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .app import Emulator
from .commands import _answer
from .state import RequestRecord


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Tencent's servers do
    # Headers and body go out in two writes; with Nagle on, the body would wait ~40 ms for the
    # client's delayed ACK on every answer over a reused connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # The request line holds the UserSig; never log it.
        return

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path.startswith("/_emulator/"):
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            status, data = self.server.emulator.control(path.removeprefix("/_emulator/"), query)
            self._send_json(status, data)
            return
        # docs/tencent-im.md §1: POST only.
        self._send_json(200, _answer(60002, "only POST is supported"))

    def do_POST(self) -> None:  # noqa: N802
        # When the request arrived, which is when Tencent counts it against the rate limit (docs/tencent-im.md §1):
        # not after the injected latency or the handling, whose time varies from call to call.
        arrived = time.time()
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        raw = self._read_body()
        if parts.path.startswith("/_emulator/"):
            try:
                payload = json.loads(raw or b"{}")
            except ValueError:
                self._send_json(400, {"error": "control body is not JSON"})
                return
            status, data = emulator.control(parts.path.removeprefix("/_emulator/"), payload)
            self._send_json(status, data)
            return
        command = parts.path.removeprefix("/v4/").strip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        fault = emulator.take_fault(command)
        if emulator.state.latency:
            time.sleep(emulator.state.latency)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
            fault = None
        safe_query = {k: v for k, v in query.items() if k != "usersig"}
        record_body = None if body is ValueError else body
        if fault is not None and fault.kind != "error_code":
            emulator.record(RequestRecord(arrived, command, safe_query, record_body, None, fault.kind))
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault.kind == "http_status":
                self.close_connection = True
                self._send(fault.http_status, b"<html><body>Bad Gateway</body></html>", "text/html")
                return
            if fault.kind == "json_body":
                self._send_json(200, fault.body if fault.body is not None else {})
                return
            self._send(200, b"<html>upstream error</html>", "text/html")
            return
        answer = emulator.check_query(query)
        if answer is None and fault is not None:
            answer = _answer(fault.error_code, f"injected fault {fault.error_code}")
        if answer is None:
            if body is ValueError or body is None:
                answer = _answer(60003, "request body is not valid JSON")
            else:
                answer = emulator.handle(
                    command, body, operator=query.get("identifier", ""), client_ip=self.client_address[0]
                )
        emulator.record(RequestRecord(
            arrived, command, safe_query, record_body, answer["ErrorCode"],
            "error_code" if fault is not None else "",
        ))
        self._send_json(200, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator


class EmulatorServer:
    """Serves an :class:`Emulator` on a loopback port, in a background thread or in the foreground."""

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.httpd = _Server((host, port), _Handler)
        self.httpd.emulator = emulator
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="im-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.emulator.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
