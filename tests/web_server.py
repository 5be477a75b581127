"""A second web server for the tests: the project's WSGI application served on a loopback port
(``python tests/web_server.py PORT``), configured by the environment like any deployment. Unlike
``runserver`` it starts without touching the database, as a production WSGI server does."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "improfile_site.settings")
    from improfile_site.wsgi import application

    server = make_server("127.0.0.1", int(sys.argv[1]), application, _ThreadingServer, _QuietHandler)
    server.serve_forever()
