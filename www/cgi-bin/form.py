#!/usr/bin/env python3
"""A form: GET shows it; POST (application/x-www-form-urlencoded) shows the fields sent."""

import html
import os
import sys
from urllib.parse import parse_qsl


HEADER = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} &middot; webserv</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header class="site-header">
  <div class="wrap">
    <a class="brand" href="/"><img src="/favicon.svg" alt="">webserv</a>
    <nav class="site-nav">
      <a href="/">Home</a>
      <a href="/files/">Files</a>
      <a href="/upload.html">Upload</a>
      <a href="/cgi-bin/README.html" aria-current="page">CGI</a>
    </nav>
  </div>
</header>
<main class="wrap">
<h1>{title}</h1>
"""

FOOTER = """\
<p><a href="/cgi-bin/">All CGI demos</a></p>
</main>
<footer class="site-footer">
  <div class="wrap">webserv &middot; this page was made by <code>cgi-bin/form.py</code></div>
</footer>
</body>
</html>
"""


def respond(title, body, status="200 OK"):
    sys.stdout.write(
        f"Status: {status}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n" + HEADER.format(title=html.escape(title)) + body + FOOTER
    )


def form():
    action = html.escape(os.environ.get("SCRIPT_NAME", "form.py"))
    return (
        f'<form method="post" action="{action}" class="panel">\n'
        '<label for="name">Name</label>\n'
        '<input id="name" name="name" type="text" required>\n'
        '<label for="message" style="margin-top:.9rem">Message</label>\n'
        '<textarea id="message" name="message" rows="4"></textarea>\n'
        '<div class="row"><button type="submit">Send</button>\n'
        '<span class="muted">POSTed as <code>application/x-www-form-urlencoded</code>'
        "</span></div>\n"
        "</form>\n"
    )


def main():
    method = os.environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD"):
        respond("A form", form())
        return
    if method != "POST":
        respond("Method not allowed", "<p>Use GET or POST.</p>\n", "405 Method Not Allowed")
        return
    content_type = os.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        respond("Unsupported form encoding",
                "<p>Send application/x-www-form-urlencoded.</p>\n" + form(),
                "415 Unsupported Media Type")
        return
    length = int(os.environ.get("CONTENT_LENGTH") or 0)
    data = sys.stdin.buffer.read(length).decode("utf-8", "replace")
    fields = parse_qsl(data, keep_blank_values=True)
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>\n"
        for name, value in fields
    )
    body = (
        f"<p>{len(fields)} field(s) received:</p>\n"
        f'<div class="table-wrap"><table class="fields">\n{rows}</table></div>\n'
        "<h2>Again?</h2>\n" + form()
    )
    respond("Thank you", body)


main()
