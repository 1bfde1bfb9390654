#!/usr/bin/env python3
"""Checks the demo site (www/, conf/default.conf) in a real browser: headless Chromium driven
through the DevTools protocol, against the real server.

    cargo build --release
    pip install websocket-client          # and: apt-get install chromium
    python3 tests/browser/check_site.py   # screenshots go to /tmp/webserv-shots
    python3 tests/browser/check_site.py --https   # the same walk over HTTPS (--tls12: TLS 1.2)

It starts target/release/webserv (or $WEBSERV) on conf/default.conf, with the port changed to
one the kernel picks (with --https: `listen ... ssl` and a self-signed P-256 certificate made
with openssl, which the crawler trusts as its CA and Chromium by its SPKI pin only), and checks:

  - every page renders with its stylesheet and icons, without failed requests or console errors;
  - every same-origin link of the site answers 2xx or 3xx (except the one meant to be missing);
  - the CGI demos: the form (GET and POST), PHP, the environment, streaming (lines arrive one by
    one), the session counter (cookies);
  - uploads through the real form (several files), their listing, the Delete buttons (the file
    is gone from disk), PUT; and the form without JavaScript;
  - a reload revalidates with a conditional request that gets 304;
  - with --https: the pages are a secure context and every response came over TLS (the
    protocol and cipher Chromium negotiated are printed), over HTTP/2 (ALPN h2; with --http1,
    Chromium's HTTP/2 is turned off and every response must be HTTP/1.1).

Files uploaded are removed again from www/uploads. Not part of `cargo test` (CI has no browser).
"""

import argparse
import hashlib
import html.parser
import http.client
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UPLOADS = os.path.join(ROOT, "www", "uploads")
# Links of the site that answer an error on purpose.
EXPECTED_ERRORS = {"/this-page-does-not-exist": 404, "/teapot": 418}
FAILURES = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        FAILURES.append(what)
    return ok


# --- the server ----------------------------------------------------------------------------------

def make_certificate(directory):
    """A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1 in `directory`;
    returns (certificate path, key path, base64 SHA-256 of its SubjectPublicKeyInfo)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                          check=True, capture_output=True).stdout
    import base64
    return cert, key, base64.b64encode(hashlib.sha256(spki).digest()).decode()


def start_server(binary, normalise=False, tls=None):
    """webserv on a copy of conf/default.conf listening on port 0; returns (process, base URL).
    With `normalise`, the paths are given without `..` (conf/../www becomes www). With `tls`
    (certificate path, key path), the port is HTTPS."""
    conf_dir = os.path.join(ROOT, "conf")
    with open(os.path.join(conf_dir, "default.conf")) as f:
        text = f.read()
    listen = "listen 127.0.0.1:0;"
    if tls:
        listen = (f"listen 127.0.0.1:0 ssl;\n    ssl_certificate {tls[0]};\n"
                  f"    ssl_certificate_key {tls[1]};")
    text = re.sub(r"listen\s+127\.0\.0\.1:8080;", lambda _: listen, text)
    # Same paths as the original (relative ones made absolute from conf/, `..` kept).
    text = re.sub(r"^(\s*(?:root|alias|upload_store)\s+)(?!/)([^;\s]+);",
                  lambda m: m.group(1) + (os.path.normpath if normalise else str)(
                      f"{conf_dir}/{m.group(2)}") + ";", text, flags=re.M)
    text = re.sub(r"^(\s*error_log\s+)", r"# \1", text, flags=re.M)
    text = "access_log off;\n" + re.sub(r"^\s*access_log\s+[^;]*;", "", text, flags=re.M)
    fd, path = tempfile.mkstemp(suffix=".conf", prefix="webserv-browser-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    proc = subprocess.Popen([binary, path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on (https?://\S+)", line)
        if m:
            threading.Thread(target=lambda: [sys.stderr.write("  server: " + l)
                                             for l in proc.stderr], daemon=True).start()
            os.unlink(path)
            return proc, m.group(1).rstrip("/")
    proc.kill()
    proc.wait()
    os.unlink(path)
    raise SystemExit("webserv did not start")


# --- the crawler ---------------------------------------------------------------------------------

class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for attr in ("href", "src", "action"):
            if a.get(attr) and not (tag == "form" and a.get("method", "get").lower() == "post"):
                self.urls.append(a[attr])


def forget_session(set_cookie):
    """Removes the file session.py keeps for the session of a `sid=` cookie."""
    m = re.match(r"sid=([0-9a-f]{32});", set_cookie)
    if m:
        try:
            os.unlink(os.path.join(tempfile.gettempdir(), "webserv-sessions", m.group(1)))
        except OSError:
            pass


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def crawl(base, cafile=None):
    """Every same-origin URL reachable from / (GET only); returns {url: status}. Over HTTPS,
    `cafile` is the one certificate trusted."""
    handlers = [NoRedirect]
    if cafile:
        handlers.append(urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cafile=cafile)))
    opener = urllib.request.build_opener(*handlers)
    seen, todo, status, anchors, ids = set(), [base + "/"], {}, [], {}
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        code = None
        try:
            try:
                res = opener.open(urllib.request.Request(url), timeout=30)
            except urllib.error.HTTPError as e:
                res = e
            with res:
                code, headers = res.status, res.headers
                body = res.read()
        except http.client.IncompleteRead:
            status[url] = f"{code} with an incomplete body"
            continue
        status[url] = code
        forget_session(headers.get("Set-Cookie") or "")
        if 300 <= code < 400 and headers.get("Location"):
            todo.append(urllib.parse.urljoin(url, headers["Location"]).split("#")[0])
            continue
        if code >= 400 or not (headers.get("Content-Type") or "").startswith("text/html"):
            continue
        page = Links()
        page.feed(body.decode("utf-8", "replace"))
        ids[url] = page.ids
        for ref in page.urls:
            target = urllib.parse.urljoin(url, ref)
            if not target.startswith(base + "/"):
                continue
            target, _, fragment = target.partition("#")
            if fragment:
                anchors.append((url, target, fragment))
            todo.append(target)
    for page, target, fragment in anchors:
        check(fragment in ids.get(target, set()), f"anchor #{fragment} exists in {target} "
              f"(linked from {page})")
    return status


# --- browser checks ------------------------------------------------------------------------------

def problems(b, since, expected_status=None):
    """Failed requests and console errors since a mark, minus the expected ones."""
    out = []
    for r in b.requests(since).values():
        if r.get("failed") and not (r.get("canceled") and r.get("status") == 204):
            # (A fetch() of a 204 is reported as canceled by Chromium, whatever the server.)
            out.append(f"{r.get('method')} {r.get('url')}: {r['failed']}")
        elif r.get("status", 200) >= 400 and r.get("status") != expected_status:
            out.append(f"{r.get('method')} {r.get('url')}: {r['status']}")
    for e in b.errors(since):
        if expected_status and f"status of {expected_status}" in e:
            continue
        out.append(e)
    return out


def visit(b, base, shots, name, path, title=None, status=None, contains=None):
    m = b.goto(base + path)
    b.screenshot(os.path.join(shots, name + ".png"))
    got_title = b.eval("document.title")
    main = next((r for r in b.requests(m).values() if r.get("url", "").split("#")[0]
                 == b.eval("location.href").split("#")[0]), {})
    ok = check(main.get("status") == (status or 200),
               f"{path}: status {main.get('status')} (screenshot {name}.png)")
    if title is not None:
        ok &= check(title in got_title, f"{path}: title {got_title!r} has {title!r}")
    if contains is not None:
        text = b.eval("document.body ? document.body.innerText : ''")
        ok &= check(contains in text, f"{path}: page shows {contains!r}")
    sheets = b.eval("[...document.styleSheets].filter(s => s.href)"
                    ".map(s => s.href + ' ' + s.cssRules.length)")
    for sheet in sheets:
        check(not sheet.endswith(" 0"), f"{path}: stylesheet {sheet.split()[0]} has rules")
    broken = b.eval("[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                    ".map(i => i.src)")
    check(not broken, f"{path}: all images loaded {broken or ''}")
    issues = problems(b, m, status)
    check(not issues, f"{path}: no failed requests, no console errors {issues or ''}")
    return m


def check_pages(b, base, shots):
    print("pages")
    visit(b, base, shots, "home", "/", title="webserv", contains="Try it")
    visit(b, base, shots, "files", "/files/", title="Index of /files/",
          contains="notes with spaces.txt")
    visit(b, base, shots, "files-docs", "/files/docs/", title="A subdirectory",
          contains="changelog.txt")
    visit(b, base, shots, "files-docs-noslash", "/files/docs", title="A subdirectory")
    check(b.eval("location.pathname") == "/files/docs/", "/files/docs redirected to /files/docs/")
    visit(b, base, shots, "404", "/this-page-does-not-exist", title="404", status=404,
          contains="This page does not exist")
    visit(b, base, shots, "upload", "/upload.html", title="Uploads", contains="Send files")
    visit(b, base, shots, "cgi", "/cgi-bin/", title="CGI demos", contains="session.py")
    visit(b, base, shots, "cgi-readme", "/cgi-bin/README.html", title="CGI demos")
    visit(b, base, shots, "hello-php", "/cgi-bin/hello.php?greeting=hi", title="Hello from PHP",
          contains="greeting=hi")
    visit(b, base, shots, "info-sh", "/cgi-bin/info.sh/extra/path?q=1&lang=en",
          contains="PATH_INFO=/extra/path")
    visit(b, base, shots, "teapot", "/teapot", status=418, contains="I'm a teapot")
    visit(b, base, shots, "old", "/old/page.html", title="webserv: an HTTP/1.1 server")
    check(b.eval("location.pathname") == "/", "/old/page.html redirected to /")
    visit(b, base, shots, "uploads-listing", "/uploads/", title="Index of /uploads/")
    for name, path in [("file-text", "/files/readme.txt"),
                       ("file-spaces", "/files/notes%20with%20spaces.txt"),
                       ("file-json", "/files/colors.json"),
                       ("file-svg", "/files/diagram.svg"),
                       ("file-png", "/files/webserv-logo.png"),
                       ("favicon-ico", "/favicon.ico"),
                       ("favicon-svg", "/favicon.svg")]:
        visit(b, base, shots, name, path)


def check_form(b, base, shots):
    print("CGI form")
    m = visit(b, base, shots, "form", "/cgi-bin/form.py", title="A form")
    m = b.mark()
    b.eval("document.querySelector('input[name=name]').value = 'Zoë <b>&amp;</b>';"
           "document.querySelector('textarea[name=message]').value = 'two\\nlines €';"
           "document.querySelector('form').requestSubmit()")
    b.wait_event("Page.frameStoppedLoading", since=m)
    b.pump(0.3)
    b.screenshot(os.path.join(shots, "form-post.png"))
    cells = b.eval("[...document.querySelectorAll('table td')].map(td => td.textContent)")
    check(cells == ["Zoë <b>&amp;</b>", "two\nlines €"], f"form POST echoes the fields {cells}")
    posted = [r for r in b.requests(m).values() if r.get("method") == "POST"]
    check(len(posted) == 1 and posted[0].get("status") == 200, "form POST: 200")
    issues = problems(b, m)
    check(not issues, f"form POST: no failed requests, no console errors {issues or ''}")


def check_stream(b, base, shots):
    print("CGI streaming")
    m = b.mark()
    start = time.time()
    b.call("Page.navigate", url=base + "/cgi-bin/stream.py")
    arrivals = {}
    while time.time() - start < 15 and len(arrivals) < 10:
        b.pump(0.1)
        n = b.eval("document.body ? document.body.innerText.split('\\n')"
                   ".filter(l => l.startsWith('line ')).length : 0")
        for i in range(len(arrivals) + 1, n + 1):
            arrivals[i] = round(time.time() - start, 1)
    b.wait_event("Page.frameStoppedLoading", since=m)
    b.screenshot(os.path.join(shots, "stream.png"))
    doc = next(r for r, v in b.requests(m).items() if v.get("url", "").endswith("/stream.py"))
    received = [round(ev["t"] - start, 1) for ev in b.events[m:]
                if ev["method"] == "Network.dataReceived" and ev["params"]["requestId"] == doc]
    print(f"        data received at (s): {received}")
    print(f"        lines shown at (s): {sorted(arrivals.items())}")
    check(len(arrivals) == 10, "stream.py: all 10 lines shown")
    check(arrivals.get(1, 99) < 1.0 and arrivals.get(10, 0) > 7.0,
          "stream.py: the first line within 1 s, the last after 7 s (progressive)")
    issues = problems(b, m)
    check(not issues, f"stream.py: no failed requests, no console errors {issues or ''}")


def check_session(b, base, shots):
    print("CGI session (cookies)")
    b.call("Network.clearBrowserCookies")
    visit(b, base, shots, "session", "/cgi-bin/session.py", title="Session counter")
    counts = [b.eval("document.getElementById('count').textContent")]
    for _ in range(2):
        b.reload()
        counts.append(b.eval("document.getElementById('count').textContent"))
    m = b.mark()
    b.eval("document.querySelector('a[href=\"session.py\"]').click()")
    b.wait_event("Page.frameStoppedLoading", since=m)
    counts.append(b.eval("document.getElementById('count').textContent"))
    b.screenshot(os.path.join(shots, "session-4.png"))
    check(counts == ["once", "2 times", "3 times", "4 times"],
          f"session.py: the counter goes up across reloads {counts}")
    for c in b.call("Network.getCookies")["cookies"]:
        if c["name"] == "sid":
            forget_session(f"sid={c['value']};")


def on_disk():
    return sorted(n for n in os.listdir(UPLOADS) if n != ".gitkeep")


def check_uploads(b, base, shots):
    print("uploads")
    before = on_disk()
    check(before == [], f"www/uploads is empty at the start {before}")
    src = tempfile.mkdtemp(prefix="upload-src-")
    contents = {
        "alpha.txt": b"alpha\n",
        "with spaces.txt": b"spaces\n",
        "ünï €.txt": "unicode\n".encode(),
        "logo.png": open(os.path.join(ROOT, "www", "files", "webserv-logo.png"), "rb").read(),
        "big.bin": os.urandom(3 * 1024 * 1024 + 17),
    }
    for name, data in contents.items():
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
    try:
        m = visit(b, base, shots, "upload-empty", "/upload.html", title="Uploads")
        b.wait_js("document.querySelector('#file-list li').textContent !== 'Loading\u2026'")
        root = b.call("DOM.getDocument")["root"]["nodeId"]
        node = b.call("DOM.querySelector", nodeId=root, selector="#files")["nodeId"]
        b.call("DOM.setFileInputFiles", nodeId=node,
               files=[os.path.join(src, n) for n in contents])
        m = b.mark()
        b.eval("document.querySelector('#upload-form button[type=submit]').click()")
        b.wait_js("/^POST/.test(document.getElementById('upload-status').textContent)", 30)
        b.wait_js("document.querySelectorAll('#file-list li button').length === 5", 10)
        status = b.eval("document.getElementById('upload-status').textContent")
        check(status.startswith("POST: 201"), f"upload form: {status!r}")
        listed = b.eval("[...document.querySelectorAll('#file-list li a')].map(a => a.textContent)")
        check(sorted(listed) == sorted(contents), f"the page lists the 5 files {listed}")
        check(on_disk() == sorted(contents), f"the 5 files are on disk {on_disk()}")
        for name, data in contents.items():
            with open(os.path.join(UPLOADS, name), "rb") as f:
                same = hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
            check(same, f"{name}: stored byte for byte")
        b.screenshot(os.path.join(shots, "upload-done.png"))
        for name in ("with spaces.txt", "ünï €.txt"):
            b.eval("[...document.querySelectorAll('#file-list li')].find(li => "
                   f"li.querySelector('a').textContent === {name!r})"
                   ".querySelector('button.danger').click()")
            b.wait_js(f"document.getElementById('list-status').textContent.startsWith("
                      f"{'DELETE ' + name!r})", 10)
            b.wait_js("document.querySelectorAll('#file-list li button').length === "
                      f"{len(contents) - 1 - ('ü' in name)}", 10)
            status = b.eval("document.getElementById('list-status').textContent")
            check(status.endswith("204 No Content"), f"Delete button: {status!r}")
            check(name not in on_disk(), f"{name}: gone from disk")
        b.screenshot(os.path.join(shots, "upload-deleted.png"))
        b.eval("document.getElementById('put-name').value = 'put.txt';"
               "document.querySelector('#put-form button').click()")
        b.wait_js("document.getElementById('put-status').textContent.startsWith('PUT')", 10)
        check(b.eval("document.getElementById('put-status').textContent")
              == "PUT put.txt: 201 Created", "PUT form: 201 Created")
        with open(os.path.join(UPLOADS, "put.txt"), "rb") as f:
            check(f.read() == b"Hello from webserv!", "put.txt holds the text")
        issues = problems(b, m)
        check(not issues, f"upload page: no failed requests, no console errors {issues or ''}")

        # Without JavaScript the form posts itself and the server's 201 page links the file.
        b.call("Emulation.setScriptExecutionDisabled", value=True)
        b.goto(base + "/upload.html")
        root = b.call("DOM.getDocument")["root"]["nodeId"]
        node = b.call("DOM.querySelector", nodeId=root, selector="#files")["nodeId"]
        b.call("DOM.setFileInputFiles", nodeId=node, files=[os.path.join(src, "alpha.txt")])
        m = b.mark()
        b.call("Runtime.evaluate", expression="0")  # (evaluate still works, the page's do not)
        b.eval("document.getElementById('upload-form').submit()")
        b.wait_event("Page.frameStoppedLoading", since=m)
        b.screenshot(os.path.join(shots, "upload-nojs-201.png"))
        text = b.eval("document.body.innerText")
        check("201 Created" in text and "alpha-1.txt" in text,
              "without JavaScript: the 201 page names alpha-1.txt")
        b.call("Emulation.setScriptExecutionDisabled", value=False)
    finally:
        for name in on_disk():
            os.unlink(os.path.join(UPLOADS, name))
        for name in os.listdir(src):
            os.unlink(os.path.join(src, name))
        os.rmdir(src)
    check(on_disk() == [], "www/uploads cleaned up")


def check_cache(b, base):
    print("caching")
    b.goto(base + "/")
    m = b.reload()
    reqs = b.requests(m)
    doc = next(r for r in reqs.values() if r.get("url") == base + "/")
    h = {k.lower(): v for k, v in doc.get("rawReqHeaders", {}).items()}
    check("if-none-match" in h and "if-modified-since" in h,
          f"reload sends If-None-Match {h.get('if-none-match')} and If-Modified-Since")
    check(doc.get("rawStatus") == 304, f"reload of / answered {doc.get('rawStatus')} (304)")
    # A hard reload bypasses the cache: 200 again.
    m = b.mark()
    b.call("Page.reload", ignoreCache=True)
    b.wait_event("Page.frameStoppedLoading", since=m)
    b.pump(0.3)
    codes = {r.get("url"): r.get("rawStatus") for r in b.requests(m).values()}
    check(codes.get(base + "/") == 200 and codes.get(base + "/style.css") == 200,
          f"hard reload: 200 for / and /style.css {codes}")
    # And a stylesheet revalidated with its ETag: 304 (fetch with cache: "no-cache").
    m = b.mark()
    b.eval("fetch('/style.css', {cache: 'no-cache'}).then(r => r.status)", await_promise=True)
    b.pump(0.3)
    css = [r for r in b.requests(m).values() if r.get("url") == base + "/style.css"]
    check(bool(css) and css[0].get("rawStatus") == 304,
          f"revalidated /style.css answered {css and css[0].get('rawStatus')} (304)")


def check_tls(b, base, since, version, http):
    """Every response since `since` came over TLS in protocol `http` (`h2`, `http/1.1`),
    and the page is a secure context."""
    print("tls")
    check(b.eval("window.isSecureContext") is True, "the page is a secure context")
    reqs = [r for r in b.requests(since).values() if r.get("url", "").startswith(base)]
    insecure = sorted({r["url"] for r in reqs if "status" in r and not r.get("tls")})
    check(reqs and not insecure, f"{len(reqs)} responses, all over TLS {insecure or ''}")
    seen = sorted({(t["protocol"], t["cipher"], t.get("keyExchangeGroup") or "",
                    t.get("certificateId") is not None)
                   for t in (r.get("tls") for r in reqs) if t})
    for protocol, cipher, group, _ in seen:
        print(f"        negotiated {protocol} {cipher} {group}")
    states = sorted({r.get("securityState") for r in reqs if "status" in r})
    print(f"        Chromium security state of the responses: {states}")
    check(seen and all(p == version for p, *_ in seen), f"Chromium negotiated {version}")
    protocols = sorted({r.get("protocol") for r in reqs if "status" in r})
    check(protocols == [http], f"every response came over {http} {protocols}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.environ.get(
        "WEBSERV", os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                "release", "webserv")))
    ap.add_argument("--shots", default="/tmp/webserv-shots")
    ap.add_argument("--normalise-paths", action="store_true",
                    help="give the server root and alias paths without `..`")
    ap.add_argument("--https", action="store_true",
                    help="serve HTTPS (a certificate made with openssl) and check it")
    ap.add_argument("--tls12", action="store_true",
                    help="with --https: Chromium limited to TLS 1.2")
    ap.add_argument("--http1", action="store_true",
                    help="with --https: Chromium's HTTP/2 off (HTTP/1.1 over TLS)")
    args = ap.parse_args()
    args.https |= args.tls12
    os.makedirs(args.shots, exist_ok=True)
    tls_dir = tempfile.mkdtemp(prefix="webserv-browser-tls-") if args.https else None
    cert, key, pin = make_certificate(tls_dir) if tls_dir else (None, None, None)
    flags = [f"--ignore-certificate-errors-spki-list={pin}"] if pin else []
    if args.tls12:
        flags.append("--ssl-version-max=tls1.2")
    if args.http1:
        flags.append("--disable-http2")
    server, base = start_server(args.server, args.normalise_paths, cert and (cert, key))
    print(f"server {args.server} at {base}, screenshots in {args.shots}")
    try:
        print("crawl")
        status = crawl(base, cert)
        for url, code in sorted(status.items()):
            path = url[len(base):]
            expected = EXPECTED_ERRORS.get(path)
            ok = code == expected if expected else isinstance(code, int) and 200 <= code < 400
            check(ok, f"{code} {path}")
        with Browser(flags=flags) as b:
            check_pages(b, base, args.shots)
            check_form(b, base, args.shots)
            check_stream(b, base, args.shots)
            check_session(b, base, args.shots)
            check_uploads(b, base, args.shots)
            check_cache(b, base)
            if args.https:
                check_tls(b, base, 0, "TLS 1.2" if args.tls12 else "TLS 1.3",
                          "http/1.1" if args.http1 else "h2")
    finally:
        server.terminate()
        server.wait(15)
        if tls_dir:
            shutil.rmtree(tls_dir)
    print()
    if FAILURES:
        print(f"{len(FAILURES)} FAILED:")
        for f in FAILURES:
            print("  " + f)
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
