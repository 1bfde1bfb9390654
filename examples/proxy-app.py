#!/usr/bin/env python3
"""A tiny application to run behind webserv's reverse proxy (examples/reverse-proxy.conf):

    python3 examples/proxy-app.py 8001 &
    python3 examples/proxy-app.py 8002 &
    webserv examples/reverse-proxy.conf

Answers every request with a line naming its port, the path it got and the client address the
proxy forwarded (X-Real-IP), kept alive as HTTP/1.1 allows. Port 0 picks a free one (printed on
the first line of stdout). Only the standard library.
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        port = self.server.server_address[1]
        client = self.headers.get("X-Real-IP", "?")
        body = f"instance {port}: {self.path} for {client}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8001), App)
    print(server.server_address[1], flush=True)
    server.serve_forever()
