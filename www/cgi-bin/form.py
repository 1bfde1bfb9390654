#!/usr/bin/env python3
"""A form: GET shows it; POST (application/x-www-form-urlencoded) shows the fields sent."""

import html
import os
import sys
from urllib.parse import parse_qsl


def respond(title, body, status="200 OK"):
    sys.stdout.write(
        f"Status: {status}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        '<head><meta charset="utf-8"><title>' + title + "</title>\n"
        '<link rel="stylesheet" href="/style.css"></head>\n'
        "<body><main>\n"
        f"<h1>{title}</h1>\n{body}"
        '<p><a href="/cgi-bin/">All CGI demos</a></p>\n'
        "</main></body>\n</html>\n"
    )


def form():
    action = html.escape(os.environ.get("SCRIPT_NAME", "form.py"))
    return (
        f'<form method="post" action="{action}">\n'
        '<p><label>Name <input name="name" required></label></p>\n'
        '<p><label>Message <textarea name="message" rows="4"></textarea></label></p>\n'
        '<p><button type="submit">Send</button></p>\n'
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
        f"<table>\n{rows}</table>\n"
        "<h2>Again?</h2>\n" + form()
    )
    respond("Thank you", body)


main()
