#!/usr/bin/env python3
"""bench/compress.py: compression on the fly, webserv against nginx, lighttpd and h2o.

    python3 bench/compress.py [--rounds 3] [--duration 5s] [--webserv target/release/webserv]

A 100 KiB HTML file (www/bench/100k.html, made here if missing: rows of a product listing, as
compressible as a real page), keep-alive, `wrk -t1 -c64` with `Accept-Encoding: gzip` (level 6
everywhere) and then `Accept-Encoding: br` (each server's brotli at its default quality), one
worker per server pinned to CPU 0 and wrk to CPU 1, as bench/bench.py runs its scenarios:

- webserv: `gzip on; gzip_comp_level 6; brotli on;` (brotli 6, ngx_brotli's default); the
  compressed variants are made once and kept in its file cache;
- nginx 1.22: `gzip on; gzip_comp_level 6;` (Debian's nginx has no brotli module: no br row);
- lighttpd 1.4.69: mod_deflate with `deflate.cache-dir` (its cache of compressed files),
  level 6, gzip and br (its brotli quality is its default, 5);
- h2o 2.2.5: `compress:` with gzip quality 6 and br at its default quality.

Each round runs every server once per scenario, in turn (interleaved); the figures are the
median of the rounds with their min-max: requests/s, and server CPU per request from
/proc/PID/stat (utime + stime of the server's processes, 10 ms ticks). Every response is
checked first: status 200, the coding asked for, and the body decoding to the file. The machine
is shared: req/s is noisy; CPU per request is the steadier figure. Writes the markdown table to
stdout (bench/RESULTS.md keeps it).
"""

import argparse
import gzip
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the Server class, wrk, /proc readers)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_page(path):
    rows, i = [], 0
    size = 0
    while size < 100 * 1024:
        i = (i * 2654435761 + 12345) % (1 << 32)
        row = (f'<div class="row r{i % 7}"><a href="/item/{i % 1000}">Item {i % 97}</a> '
               f'<span>{i % 13} in stock</span></div>\n')
        rows.append(row)
        size += len(row)
    html = "<!DOCTYPE html>\n<html><head><title>bench</title></head><body>\n" + "".join(rows)
    html += "</body></html>\n"
    with open(path, "w") as f:
        f.write(html)


def configs(tmp, docroot, ports):
    logs = os.path.join(tmp, "logs")
    conf = {}
    path = os.path.join(tmp, "webserv.conf")
    with open(path, "w") as f:
        f.write(f"""workers 1;
access_log off;
error_log {logs}/webserv-error.log;
server {{
    listen 127.0.0.1:{ports['webserv']};
    root {docroot};
    keepalive_timeout 300s;
    gzip on;
    gzip_comp_level 6;
    brotli on;
}}
""")
    conf["webserv"] = [ARGS.webserv, path]
    path = os.path.join(tmp, "nginx.conf")
    os.makedirs(os.path.join(tmp, "nginx-temp"), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {logs}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    types {{ text/html html; }}
    client_body_temp_path {tmp}/nginx-temp/body;
    proxy_temp_path {tmp}/nginx-temp/proxy;
    fastcgi_temp_path {tmp}/nginx-temp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-temp/uwsgi;
    scgi_temp_path {tmp}/nginx-temp/scgi;
    gzip on;
    gzip_comp_level 6;
    server {{
        listen 127.0.0.1:{ports['nginx']};
        root {docroot};
    }}
}}
""")
    conf["nginx"] = ["nginx", "-e", f"{logs}/nginx-error.log", "-p", tmp, "-c", path, "-g", "daemon off;"]
    path = os.path.join(tmp, "lighttpd.conf")
    cache = os.path.join(tmp, "lighttpd-cache")
    os.makedirs(cache, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(cache, "www-data", "www-data")
    with open(path, "w") as f:
        f.write(f"""server.modules = ( "mod_deflate" )
server.document-root = "{docroot}"
server.bind = "127.0.0.1"
server.port = {ports['lighttpd']}
server.network-backend = "sendfile"
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 300
mimetype.assign = ( ".html" => "text/html" )
deflate.mimetypes = ( "text/html" )
deflate.allowed-encodings = ( "br", "gzip" )
deflate.cache-dir = "{cache}"
deflate.compression-level = 6
""")
        if os.geteuid() == 0:
            f.write('server.username = "www-data"\nserver.groupname = "www-data"\n')
    conf["lighttpd"] = ["lighttpd", "-D", "-f", path]
    path = os.path.join(tmp, "h2o.conf")
    with open(path, "w") as f:
        f.write(f"""num-threads: 1
http1-request-timeout: 300
pid-file: {tmp}/h2o.pid
error-log: {logs}/h2o-error.log
{'user: root' if os.geteuid() == 0 else ''}
listen:
  host: 127.0.0.1
  port: {ports['h2o']}
hosts:
  default:
    paths:
      /:
        file.dir: {docroot}
        file.send-compressed: OFF
        compress:
          gzip: 6
          br: ON
""")
    conf["h2o"] = ["h2o", "-c", path]
    return conf


def fetch(port, coding):
    """One request asking for `coding`: (status, Content-Encoding, body decoded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET /100k.html HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: {coding}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 20):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = bench.dechunk(body)
    encoding = fields.get("content-encoding")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "br":
        out = subprocess.run(["/usr/bin/python3", "-c",
                              "import sys, brotli; sys.stdout.buffer.write(brotli.decompress(sys.stdin.buffer.read()))"],
                             input=body, capture_output=True, check=True)
        body = out.stdout
    return int(lines[0].split()[1]), encoding, body


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", default="5s")
    p.add_argument("--warmup", default="1s")
    p.add_argument("--webserv", default=os.path.join(REPO, "target/release/webserv"))
    ARGS = p.parse_args()
    ARGS.webserv = os.path.abspath(ARGS.webserv)
    ARGS.pin_client = ["taskset", "-c", "1"]
    tmp = tempfile.mkdtemp(prefix="webserv-compress.")
    os.chmod(tmp, 0o755)
    ARGS.tmp = tmp
    bench.ARGS = ARGS
    os.makedirs(os.path.join(tmp, "logs"))
    os.makedirs(os.path.join(tmp, "wrk"))
    docroot = os.path.join(tmp, "www")
    os.makedirs(docroot)
    source = os.path.join(REPO, "www/bench/100k.html")
    if not os.path.exists(source):
        make_page(source)
    shutil.copy(source, os.path.join(docroot, "100k.html"))
    html = open(source, "rb").read()
    names = ["webserv", "nginx", "lighttpd", "h2o"]
    ports = {n: bench.free_port() for n in names}
    argvs = configs(tmp, docroot, ports)
    servers = [bench.Server(n, argvs[n], ports[n], tmp, ["taskset", "-c", "0"], "", check="/100k.html",
                            check_size=len(html)) for n in names]
    results = {}
    try:
        for s in servers:
            s.start()
        scenarios = [("gzip", "gzip 6", servers), ("br", "brotli (default)", [s for s in servers if s.name != "nginx"])]
        for coding, label, group in scenarios:
            for s in group:
                status, encoding, body = fetch(s.port, coding)
                if status != 200 or encoding != coding or body != html:
                    bench.die(f"{s.name} {coding}: status {status}, Content-Encoding {encoding}, "
                              f"{len(body)} bytes decoded")
            runs = {s.name: [] for s in group}
            for s in group:
                wrk(s, coding, ARGS.warmup)
            for rnd in range(ARGS.rounds):
                for s in group:
                    r = wrk(s, coding, ARGS.duration)
                    runs[s.name].append(r)
                    bench.note(f"{label} round {rnd + 1} {s.name:<9} {r['rps']:>10,.0f} req/s "
                               f"{r['cpu_us']:>7.1f} us/req")
            results[label] = runs
    finally:
        for s in servers:
            s.stop()
    report(results)
    shutil.rmtree(tmp, ignore_errors=True)


def wrk(server, coding, duration):
    argv = ARGS.pin_client + ["wrk", "-t1", "-c64", f"-d{duration}", "-H", f"Accept-Encoding: {coding}",
                              f"http://127.0.0.1:{server.port}/100k.html"]
    cpu0 = server.cpu()
    out = bench.run(argv)
    cpu1 = server.cpu()
    import re
    m = re.search(r"(\d+) requests in", out.stdout)
    requests = int(m.group(1)) if m else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if bad:
        bench.die(f"{server.name}: {bad.group(0)}")
    return {"rps": rps, "cpu_us": (cpu1[0] - cpu0[0]) * 1e6 / os.sysconf("SC_CLK_TCK") / max(requests, 1)}


def report(results):
    def fmt(values, spec):
        med = statistics.median(values)
        return f"{med:{spec}} ({min(values):{spec}}–{max(values):{spec}})"

    print(f"| scenario | server | req/s median (min–max) | server CPU µs/request | webserv ÷ server: req/s, CPU |")
    print("|---|---|---:|---:|---:|")
    for label, runs in results.items():
        w = runs["webserv"]
        w_rps = statistics.median(r["rps"] for r in w)
        w_cpu = statistics.median(r["cpu_us"] for r in w)
        for name, rs in runs.items():
            rps = [r["rps"] for r in rs]
            cpu = [r["cpu_us"] for r in rs]
            ratio = "–" if name == "webserv" else (
                f"{w_rps / statistics.median(rps):.2f}x, {statistics.median(cpu) / max(w_cpu, 1e-9):.2f}x less")
            print(f"| {label} | {name} | {fmt(rps, ',.0f')} | {fmt(cpu, '.1f')} | {ratio} |")


if __name__ == "__main__":
    main()
