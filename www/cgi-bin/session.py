#!/usr/bin/env python3
"""A visit counter per session. The session id is a random hex string kept in the `sid`
cookie; the count is a file named after it under <system temp dir>/webserv-sessions."""

import fcntl
import os
import re
import secrets
import sys
import tempfile
from http.cookies import CookieError, SimpleCookie

STORE = os.path.join(tempfile.gettempdir(), "webserv-sessions")


def session_id():
    """The sid of the request's cookie, if it is one of ours (32 hex digits, nothing else)."""
    cookies = SimpleCookie()
    try:
        cookies.load(os.environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    sid = cookies.get("sid")
    if sid is not None and re.fullmatch(r"[0-9a-f]{32}", sid.value):
        return sid.value
    return None


def count_visit(sid):
    """Adds one to the session's count (under a lock, for concurrent requests) and returns it."""
    os.makedirs(STORE, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(STORE, sid), os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        text = file.read().strip()
        count = (int(text) if text.isdigit() else 0) + 1
        file.seek(0)
        file.truncate()
        file.write(f"{count}\n")
    return count


def main():
    sid = session_id() or secrets.token_hex(16)
    count = count_visit(sid)
    times = "once" if count == 1 else f"{count} times"
    sys.stdout.write(
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Set-Cookie: sid={sid}; HttpOnly; Path=/\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Session counter &middot; webserv</title>\n"
        '<link rel="icon" href="/favicon.svg" type="image/svg+xml">\n'
        '<link rel="stylesheet" href="/style.css">\n'
        "</head>\n"
        "<body>\n"
        '<header class="site-header">\n'
        '  <div class="wrap">\n'
        '    <a class="brand" href="/"><img src="/favicon.svg" alt="">webserv</a>\n'
        '    <nav class="site-nav">\n'
        '      <a href="/">Home</a>\n'
        '      <a href="/files/">Files</a>\n'
        '      <a href="/upload.html">Upload</a>\n'
        '      <a href="/cgi-bin/README.html" aria-current="page">CGI</a>\n'
        "    </nav>\n"
        "  </div>\n"
        "</header>\n"
        '<main class="wrap">\n'
        "<h1>Session counter</h1>\n"
        f'<p>You have visited this page <strong id="count">{times}</strong> '
        "in this session.</p>\n"
        f"<p>Session <code>{sid}</code> (cookie <code>sid</code>).</p>\n"
        '<p><a href="session.py">Visit again</a> &middot; <a href="/cgi-bin/">All CGI demos</a></p>\n'
        "</main>\n"
        '<footer class="site-footer">\n'
        '  <div class="wrap">webserv &middot; this page was made by <code>cgi-bin/session.py</code></div>\n'
        "</footer>\n"
        "</body>\n</html>\n"
    )


main()
