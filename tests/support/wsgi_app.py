"""A WSGI application for the reverse-proxy tests, served by Debian's gunicorn:

    /usr/bin/gunicorn --bind 127.0.0.1:0 --worker-class gthread --threads 4 \
        --chdir tests/support wsgi_app:app

Routes: /stream?chunks=N&delay=MS (a body produced piece by piece, so gunicorn sends it chunked),
/big?n=N (N bytes with a length), anything else: the request as the application saw it, as JSON
(method, path, query, the HTTP_* environment, the body's length and the first 64 KiB of it).
"""

import json
import time
import urllib.parse


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/stream":
        chunks = int(query.get("chunks", ["5"])[0])
        delay = int(query.get("delay", ["50"])[0]) / 1000.0

        def produce():
            for i in range(chunks):
                yield ("piece %d\n" % i).encode()
                time.sleep(delay)

        start_response("200 OK", [("Content-Type", "text/plain")])
        return produce()
    if path == "/big":
        n = int(query.get("n", ["1048576"])[0])
        block = b"0123456789abcdef" * 4096

        def produce():
            left = n
            while left:
                data = block[: min(left, len(block))]
                left -= len(data)
                yield data

        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(n))])
        return produce()
    body = b""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    total = 0
    while True:
        data = stream.read(65536)
        if not data:
            break
        total += len(data)
        if len(body) < 65536:
            body += data[: 65536 - len(body)]
        if length and total >= int(length):
            break
    seen = {
        "server": "gunicorn",
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ.get("QUERY_STRING", ""),
        "protocol": environ.get("SERVER_PROTOCOL"),
        "http": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        "content_length": length,
        "body_len": total,
        "body": body.decode("latin-1"),
    }
    data = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data))),
                              ("Location", "http://%s/from-app" % environ.get("HTTP_HOST", ""))])
    return [data]
