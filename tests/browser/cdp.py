"""A minimal Chrome DevTools Protocol client for headless Chromium (stdlib + websocket-client).

Used by tests/browser/check_site.py; not part of `cargo test`.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket  # pip install websocket-client

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Browser:
    def __init__(self, width=1280, height=900, flags=()):
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, *flags, f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            self.close()
            raise RuntimeError("chromium did not start")
        # Keep draining stderr so that chromium never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- protocol ---

    def _recv(self):
        msg = json.loads(self.ws.recv())
        if "method" in msg:
            msg["t"] = time.time()
            self.events.append(msg)
        return msg

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = self._recv()
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def wait_event(self, method, timeout=30, since=0, pred=None):
        """The first event `method` at index >= since (matching pred), waiting for it."""
        deadline = time.time() + timeout
        i = since
        while True:
            while i < len(self.events):
                ev = self.events[i]
                i += 1
                if ev["method"] == method and (pred is None or pred(ev["params"])):
                    return ev
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"no {method} in {timeout}s")
            self.ws.settimeout(left)
            try:
                self._recv()
            finally:
                self.ws.settimeout(60)

    def pump(self, seconds):
        """Collects events for a while."""
        deadline = time.time() + seconds
        while True:
            left = deadline - time.time()
            if left <= 0:
                return
            self.ws.settimeout(left)
            try:
                self._recv()
            except websocket.WebSocketTimeoutException:
                return
            finally:
                self.ws.settimeout(60)

    # --- helpers ---

    def mark(self):
        return len(self.events)

    def goto(self, url, settle=0.3, timeout=30):
        start = self.mark()
        self.call("Page.navigate", url=url)
        # Not Page.loadEventFired: it never comes when the main resource fails to load.
        self.wait_event("Page.frameStoppedLoading", timeout=timeout, since=start)
        self.pump(settle)
        return start

    def reload(self, settle=0.3):
        start = self.mark()
        self.call("Page.reload")
        self.wait_event("Page.frameStoppedLoading", since=start)
        self.pump(settle)
        return start

    def eval(self, expr, await_promise=False):
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                        awaitPromise=await_promise)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JS exception: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_js(self, expr, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.eval(expr):
                return True
            self.pump(0.1)
        raise TimeoutError(f"never true: {expr}")

    def screenshot(self, path, full_page=True):
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 4000), "scale": 1}
        data = self.call("Page.captureScreenshot", **params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    # --- what happened since a mark ---

    def requests(self, since=0):
        """{requestId: {url, method, status, fromCache, failed, headers, reqHeaders, protocol,
        tls (the securityDetails of an HTTPS response)}}"""
        reqs = {}
        for ev in self.events[since:]:
            p = ev["params"]
            m = ev["method"]
            if m == "Network.requestWillBeSent":
                reqs.setdefault(p["requestId"], {}).update(
                    url=p["request"]["url"], method=p["request"]["method"],
                    reqHeaders=p["request"].get("headers", {}))
            elif m == "Network.requestWillBeSentExtraInfo":
                reqs.setdefault(p["requestId"], {})["rawReqHeaders"] = p.get("headers", {})
            elif m == "Network.responseReceived":
                r = p["response"]
                reqs.setdefault(p["requestId"], {}).update(
                    status=r["status"], headers=r.get("headers", {}),
                    fromCache=r.get("fromDiskCache") or r.get("fromMemoryCache"),
                    mimeType=r.get("mimeType"), protocol=r.get("protocol"),
                    securityState=r.get("securityState"), tls=r.get("securityDetails"))
            elif m == "Network.responseReceivedExtraInfo":
                reqs.setdefault(p["requestId"], {})["rawStatus"] = p.get("statusCode")
            elif m == "Network.requestServedFromCache":
                reqs.setdefault(p["requestId"], {})["fromCache"] = True
            elif m == "Network.loadingFailed":
                reqs.setdefault(p["requestId"], {}).update(
                    failed=p.get("errorText"), canceled=p.get("canceled"))
        return reqs

    def errors(self, since=0):
        """Console errors, uncaught exceptions and browser log errors since a mark."""
        out = []
        for ev in self.events[since:]:
            p = ev["params"]
            m = ev["method"]
            if m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                  for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: " + d.get("exception", {}).get("description", d["text"]))
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                e = p["entry"]
                out.append(f"log[{e['level']}/{e['source']}]: {e['text']} {e.get('url', '')}")
        return out
