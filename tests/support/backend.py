#!/usr/bin/env python3
"""A backend for the reverse-proxy tests, on raw sockets so that it controls every byte it sends.

    backend.py [--name NAME] [--unix PATH] [--close-all]

Listens on 127.0.0.1 port 0 (or on the unix socket PATH) and prints the port (or the path) as the
first line of stdout. Only the standard library: any python3 runs it. Stopped by its PID. With
--close-all, every request is read and its connection closed without an answer.

Every request is parsed strictly enough to report what it was (CRLF line ends, a Content-Length
or a chunked body). Keep-alive as HTTP/1.1 says (1.0 only with `Connection: keep-alive`); `?close=1`
closes after the answer; `?linger=MS` closes the connection once it has been idle MS
milliseconds after the answer. Routes, by path:

  /stats                       {"connections", "open", "requests", "body_bytes"} of this process
                               (connections accepted, still open, requests, body bytes read)
  /status/N                    status N, with the echo as body (none for 1xx/204/304)
  /slow?chunks=N&delay=MS&size=B   chunked: N chunks of B bytes, MS milliseconds apart
  /bytes?n=N[&chunked=1]       N bytes of a repeating pattern (Content-Length, or chunked)
  /sleep?ms=N                  the echo, after N milliseconds
  /close/before-head           reads the request and closes without answering
  /close/mid-body              a head with Content-Length 1000, 100 bytes, then closes
  /close/mid-chunk             a chunked head, one chunk, then closes
  /until-close                 a body delimited by closing the connection
  /malformed/NAME              a broken head, NAME one of MALFORMED below
  /headers?Name=value&...      200 with these response fields (repeatable) and a short body
  /redirect?to=URL[&status=N]  a redirect (302 by default) to URL
  /interim                     100 Continue and 103 Early Hints, then the echo
  anything else                200, the echo: JSON with name, conn (connection number), nth
                               (request number on the connection), method, target, version,
                               headers ([[name, value], ...]), head (the raw head), framing
                               ("none", "length" or "chunked"), body_len, body_sha256, body
                               (latin-1 text, the first 64 KiB)
"""

import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

NAME = "backend"
CLOSE_ALL = False
STATS = {"connections": 0, "open": 0, "requests": 0, "body_bytes": 0}
LOCK = threading.Lock()

MALFORMED = {
    "cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "bad-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
    "conflicting-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "bad-status": b"HTTP/1.1 2000 Huge\r\nContent-Length: 2\r\n\r\nok",
    "no-status-line": b"hello there\r\n\r\n",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-Split: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
    "nul": b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "huge-head": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 65536 + b"\r\nContent-Length: 2\r\n\r\nok",
    "te-unknown": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
    "te-http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "unasked-101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "http2": b"HTTP/2 200\r\ncontent-length: 2\r\n\r\nok",
}

REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
           204: "No Content", 301: "Moved Permanently", 302: "Found", 303: "See Other",
           304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
           400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock, number):
        self.sock = sock
        self.number = number
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Closed()
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, data):
        self.sock.sendall(data)


def count_body(n):
    with LOCK:
        STATS["body_bytes"] += n


def read_body(conn, headers):
    """The body (bounded copy kept), its length and hash, and how it was framed."""
    te = [v for k, v in headers if k.lower() == "transfer-encoding"]
    cl = [v for k, v in headers if k.lower() == "content-length"]
    digest = hashlib.sha256()
    kept = bytearray()
    total = 0

    def take(data):
        nonlocal total
        total += len(data)
        digest.update(data)
        if len(kept) < 65536:
            kept.extend(data[: 65536 - len(kept)])
        count_body(len(data))

    if te:
        framing = "chunked"
        while True:
            size = int(conn.read_line().split(b";")[0].strip(), 16)
            if size == 0:
                while conn.read_line() != b"":
                    pass
                break
            left = size
            while left:
                if not conn.buf:
                    conn.fill()
                data = conn.buf[:left]
                conn.buf = conn.buf[len(data):]
                left -= len(data)
                take(data)
            if conn.read_exact(2) != b"\r\n":
                raise Closed()
    elif cl:
        framing = "length"
        left = int(cl[0])
        while left:
            if not conn.buf:
                conn.fill()
            data = conn.buf[:left]
            conn.buf = conn.buf[len(data):]
            left -= len(data)
            take(data)
    else:
        framing = "none"
    return bytes(kept), total, digest.hexdigest(), framing


def response(status, fields, body=b"", length=True):
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
    lines += ["%s: %s" % (k, v) for k, v in fields]
    if length and status >= 200 and status not in (204, 304):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def pattern(n):
    block = bytes(range(256)) * 256
    out = bytearray()
    while len(out) < n:
        out.extend(block)
    return bytes(out[:n])


def serve(conn):
    nth = 0
    while True:
        try:
            raw = conn.read_head()
        except (Closed, socket.timeout):
            return
        conn.sock.settimeout(None)
        nth += 1
        with LOCK:
            STATS["requests"] += 1
        text = raw.decode("latin-1")
        lines = text.split("\r\n")
        method, target, version = lines[0].split(" ")
        headers = []
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers.append([k, v.strip(" \t")])
        body, body_len, body_sha, framing = read_body(conn, headers)
        parsed = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        path = parsed.path
        connection = ",".join(v for k, v in headers if k.lower() == "connection").lower()
        tokens = [t.strip() for t in connection.split(",")]
        keep = ("close" not in tokens) if version == "HTTP/1.1" else ("keep-alive" in tokens)
        if query.get("close") == ["1"]:
            keep = False
        echo = {
            "name": NAME, "conn": conn.number, "nth": nth, "method": method, "target": target,
            "version": version, "headers": headers, "head": text, "framing": framing,
            "body_len": body_len, "body_sha256": body_sha, "body": body.decode("latin-1"),
        }
        echo_bytes = json.dumps(echo).encode()
        json_type = ("Content-Type", "application/json")
        close_field = [] if keep else [("Connection", "close")]

        if CLOSE_ALL and path != "/stats":
            return
        if path == "/stats":
            with LOCK:
                data = json.dumps(STATS).encode()
            conn.send(response(200, [json_type] + close_field, data))
        elif path.startswith("/status/"):
            status = int(path.split("/")[2])
            body_out = b"" if status < 200 or status in (204, 304) else echo_bytes
            conn.send(response(status, [json_type] + close_field, body_out))
        elif path == "/slow":
            chunks = int(query.get("chunks", ["5"])[0])
            delay = int(query.get("delay", ["100"])[0]) / 1000.0
            size = int(query.get("size", ["10"])[0])
            conn.send(response(200, [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]
                               + close_field, length=False))
            for i in range(chunks):
                data = (str(i % 10).encode() * size)
                conn.send(b"%x\r\n%s\r\n" % (len(data), data))
                time.sleep(delay)
            conn.send(b"0\r\n\r\n")
        elif path == "/bytes":
            n = int(query.get("n", ["1024"])[0])
            chunked = query.get("chunked") == ["1"]
            fields = [("Content-Type", "application/octet-stream")] + close_field
            block = pattern(65536)
            if chunked:
                conn.send(response(200, fields + [("Transfer-Encoding", "chunked")], length=False))
            else:
                conn.send(response(200, fields + [("Content-Length", str(n))], length=False))
            left = n
            while left:
                data = block[: min(left, len(block))]
                conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                left -= len(data)
            if chunked:
                conn.send(b"0\r\n\r\n")
        elif path == "/sleep":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000.0)
            conn.send(response(200, [json_type] + close_field, echo_bytes))
        elif path == "/close/before-head":
            return
        elif path == "/close/mid-body":
            conn.send(response(200, [("Content-Length", "1000")], length=False) + b"x" * 100)
            return
        elif path == "/close/mid-chunk":
            conn.send(response(200, [("Transfer-Encoding", "chunked")], length=False)
                      + b"a\r\n0123456789\r\n")
            return
        elif path == "/until-close":
            conn.send(response(200, [("Content-Type", "text/plain")], length=False)
                      + b"until the end")
            return
        elif path.startswith("/malformed/"):
            conn.send(MALFORMED[path.split("/")[2]])
            return
        elif path == "/headers":
            fields = [(k, v) for k, vs in query.items() for v in vs if k != "close"]
            conn.send(response(200, fields + close_field, b"fields"))
        elif path == "/redirect":
            status = int(query.get("status", ["302"])[0])
            conn.send(response(status, [("Location", query["to"][0])] + close_field, b""))
        elif path == "/interim":
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n")
            conn.send(response(200, [json_type] + close_field, echo_bytes))
        else:
            conn.send(response(200, [json_type] + close_field, echo_bytes))
        if not keep:
            return
        if "linger" in query:
            conn.sock.settimeout(int(query["linger"][0]) / 1000.0)


def handle(sock, number):
    try:
        serve(Conn(sock, number))
    except (Closed, OSError, ValueError):
        pass
    finally:
        with LOCK:
            STATS["open"] -= 1
        try:
            sock.close()
        except OSError:
            pass


def main():
    global NAME, CLOSE_ALL
    args = sys.argv[1:]
    unix = None
    while args:
        flag = args.pop(0)
        if flag == "--name":
            NAME = args.pop(0)
        elif flag == "--unix":
            unix = args.pop(0)
        elif flag == "--close-all":
            CLOSE_ALL = True
        else:
            sys.exit("unknown argument " + flag)
    if unix:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(unix):
            os.unlink(unix)
        listener.bind(unix)
        shown = unix
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        shown = str(listener.getsockname()[1])
    listener.listen(128)
    print(shown, flush=True)
    number = 0
    while True:
        sock, _ = listener.accept()
        number += 1
        with LOCK:
            STATS["connections"] += 1
            STATS["open"] += 1
        threading.Thread(target=handle, args=(sock, number), daemon=True).start()


if __name__ == "__main__":
    main()
