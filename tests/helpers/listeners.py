"""Services for the scanner's tests: TCP and HTTP listeners that tests stop and start, recording who probed them."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TCPService:
    """Accepts connections on ``(host, port)`` while started; remembers the peer address of each."""

    def __init__(self, host: str, port: int = 0):
        self.host, self.port = host, port
        self.peers: list[str] = []
        self.sock: socket.socket | None = None
        self.start()

    def start(self) -> None:
        s = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        self.port = s.getsockname()[1]
        s.listen(128)
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s) -> None:
        while True:
            try:
                c, addr = s.accept()
            except OSError:
                return
            self.peers.append(addr[0])
            c.close()

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class HTTPService:
    """Answers every GET with ``status`` (changeable) on ``(host, port)``."""

    def __init__(self, host: str = "127.0.0.1", status: int = 200):
        self.status = status
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
