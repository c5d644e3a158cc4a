"""A local HTTP image server for the download tests: 127.0.0.1, a free port, one thread.

`serve(files, fail_first=..., always_fail=...)` serves `files` (URL path -> bytes). Paths in
`fail_first` answer 503 to their first request and succeed afterwards; paths in
`always_fail` always answer 500; anything else unknown is a 404. `hits` counts requests per
path so tests can prove retries and cache reuse.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ImageServer:
    base_url: str
    hits: Counter = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"


@contextmanager
def serve(
    files: dict[str, bytes], *, fail_first: set[str] = frozenset(), always_fail: set[str] = frozenset()
) -> Iterator[ImageServer]:
    hits: Counter = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.lstrip("/")
            with lock:
                hits[path] += 1
                n = hits[path]
            if path in always_fail or (path in fail_first and n == 1):
                self.send_error(500 if path in always_fail else 503)
                return
            body = files.get(path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield ImageServer(f"http://127.0.0.1:{server.server_address[1]}", hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
