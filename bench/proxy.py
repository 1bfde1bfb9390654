#!/usr/bin/env python3
"""bench/proxy.py: webserv's reverse proxy against nginx (`proxy_pass` with an upstream
`keepalive` pool), h2o (`proxy.reverse.url`) and HAProxy, side by side in one run.

Run it through bench/proxy.sh (which builds webserv and bench/ceiling.c). It reuses bench.py's
harness: the same Server class, wrk runs with server CPU read from /proc, interleaved rounds and
medians with min-max. Scenarios:

  p1  1 KiB through the proxy to a fast backend (bench/ceiling.c, the same for every proxy),
      keep-alive on both sides, `wrk -t1 -c64`: req/s, p99, proxy CPU per request; the backend
      alone beside it as the ceiling.
  p2  one 1 GiB response (a sparse file served by a separate nginx) through the proxy to a slow
      reader (`curl --limit-rate`): the proxy's RSS growth (highest sample every 50 ms, minus the
      RSS before), and the time.

Every proxy runs one worker (webserv `workers 1`, nginx `worker_processes 1`, h2o `num-threads: 1`,
HAProxy `nbthread 1`), pinned to CPU 0; wrk, curl and the backends share the other CPU(s). Access
logs off. webserv and nginx talk HTTP/1.1 to the backend with an idle pool (`keepalive 64`,
`proxy_set_header Connection ""`); h2o and HAProxy keep backend connections by default
(`http-reuse always` for HAProxy). webserv sends its default forwarding fields (X-Real-IP,
X-Forwarded-For, X-Forwarded-Proto) that nginx does not: it does that much more work.

A build whose server refuses `proxy_pass` (the proxy not wired yet) is reported as such and the
others are still measured.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared harness)
from bench import Server, die, free_port, http_get, interleave, note, run, wrk  # noqa: E402

PROXIES = ["webserv", "nginx", "h2o", "haproxy"]


def proxy_configs(tmp, port, backend_port):
    """{name: (argv, config text, path)} of each proxy in front of 127.0.0.1:backend_port."""
    logs = os.path.join(tmp, "logs")
    out = {}

    def write(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    path = write(f"webserv-proxy-{port['webserv']}.conf", f"""workers 1;
access_log off;
error_log {logs}/webserv-error.log;
upstream backend {{
    server 127.0.0.1:{backend_port};
    keepalive 64;
}}
server {{
    listen 127.0.0.1:{port['webserv']};
    keepalive_timeout 300s;
    location / {{
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }}
}}
""")
    out["webserv"] = [ARGS.webserv, path]

    os.makedirs(os.path.join(tmp, "nginx-temp"), exist_ok=True)
    path = write(f"nginx-proxy-{port['nginx']}.conf", f"""worker_processes 1;
worker_rlimit_nofile 16448;
pid {tmp}/nginx-proxy-{port['nginx']}.pid;
error_log {logs}/nginx-proxy-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/nginx-temp/body;
    proxy_temp_path {tmp}/nginx-temp/proxy;
    fastcgi_temp_path {tmp}/nginx-temp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-temp/uwsgi;
    scgi_temp_path {tmp}/nginx-temp/scgi;
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port['nginx']};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
    out["nginx"] = ["nginx", "-e", f"{logs}/nginx-proxy-error.log", "-p", tmp, "-c", path, "-g", "daemon off;"]

    path = write(f"h2o-proxy-{port['h2o']}.conf", f"""num-threads: 1
max-connections: 8192
http1-request-timeout: 300
pid-file: {tmp}/h2o-proxy-{port['h2o']}.pid
error-log: {logs}/h2o-proxy-error.log
{'user: root' if os.geteuid() == 0 else ''}
listen:
  host: 127.0.0.1
  port: {port['h2o']}
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:{backend_port}/
        proxy.timeout.keepalive: 300000
""")
    out["h2o"] = ["h2o", "-c", path]

    path = write(f"haproxy-{port['haproxy']}.cfg", f"""global
    nbthread 1
    maxconn 8192
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    option http-keep-alive
    http-reuse always
frontend front
    bind 127.0.0.1:{port['haproxy']}
    default_backend back
backend back
    server s1 127.0.0.1:{backend_port}
""")
    out["haproxy"] = ["haproxy", "-db", "-f", path]
    return out


def backend_nginx(tmp, docroot, port):
    """argv of an nginx serving `docroot` (the backend of p2)."""
    path = os.path.join(tmp, f"nginx-backend-{port}.conf")
    with open(path, "w") as f:
        f.write(f"""worker_processes 1;
pid {tmp}/nginx-backend-{port}.pid;
error_log {tmp}/logs/nginx-backend-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/nginx-temp/body-b;
    proxy_temp_path {tmp}/nginx-temp/proxy-b;
    fastcgi_temp_path {tmp}/nginx-temp/fastcgi-b;
    uwsgi_temp_path {tmp}/nginx-temp/uwsgi-b;
    scgi_temp_path {tmp}/nginx-temp/scgi-b;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
    }}
}}
""")
    return ["nginx", "-e", f"{tmp}/logs/nginx-backend-error.log", "-p", tmp, "-c", path, "-g", "daemon off;"]


def versions():
    v = {}
    v["webserv"] = (run([ARGS.webserv, "--version"]).stdout.strip().splitlines() or ["?"])[0]
    commit = run(["git", "-C", ARGS.repo, "rev-parse", "--short", "HEAD"]).stdout.strip()
    if commit:
        v["webserv"] += f" ({commit})"
    v["nginx"] = run(["nginx", "-v"]).stderr.strip().replace("nginx version: ", "")
    v["h2o"] = run(["h2o", "--version"]).stdout.splitlines()[0].replace(" version ", "/")
    v["haproxy"] = run(["haproxy", "-v"]).stdout.splitlines()[0].split(" - ")[0]
    v["ceiling"] = "bench/ceiling.c (gcc -O2), the backend of p1"
    wrk_version = run(["wrk", "-v"])
    v["wrk"] = (wrk_version.stdout or wrk_version.stderr or "wrk").splitlines()[0].split(" [")[0]
    return v


def slow_stream(server, path, size, rate):
    """One `curl --limit-rate` download of `path` through `server`, sampling its RSS."""
    before = server.rss()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], server.rss())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    argv = ARGS.pin_client + ["curl", "-sS", "-o", "/dev/null", "--limit-rate", rate,
                              "-w", "%{http_code} %{size_download} %{time_total}",
                              f"http://127.0.0.1:{server.port}{path}"]
    out = run(argv)
    done.set()
    sampler.join()
    try:
        code, got, seconds = out.stdout.split()
    except ValueError:
        die(f"curl failed through {server.name}: {out.stderr.strip()}")
    if code != "200" or int(got) != size:
        die(f"{server.name} sent {code} with {got} bytes for {path}, want 200 with {size}")
    return {"rss_growth_mib": (peak[0] - before) / (1 << 20), "seconds": float(seconds),
            "rss_before_mib": before / (1 << 20)}


def med(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def cell(stat, fmt):
    if stat is None:
        return "-"
    m, lo, hi = stat
    if lo == hi:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(lo)}–{fmt.format(hi)})"


def render(results):
    meta = results["meta"]
    lines = ["# Reverse proxy: webserv against nginx, h2o and HAProxy", "",
             f"{meta['date']}, {meta['cpu']} ({meta['ncpu']} CPUs), Linux {meta['kernel']}; "
             f"{meta['rounds']} interleaved round(s) of {meta['duration']}; load average "
             f"{', '.join(meta['load'])}. Command: `{meta['command']}`.", ""]
    for name, version in meta["versions"].items():
        lines.append(f"- {name}: {version}")
    if results.get("unavailable"):
        lines += ["", f"**webserv not measured**: {results['unavailable']}"]
    tables = [
        ("p1", "p1. 1 KiB through the proxy to `bench/ceiling.c`, keep-alive both sides, `wrk -t1 -c64`",
         [("rps", "req/s", "{:,.0f}", True), ("p99_ms", "p99, ms", "{:.2f}", False),
          ("cpu_us", "proxy CPU, µs/request", "{:.2f}", False)]),
        ("p2", f"p2. one {meta['stream_mib']} MiB response through the proxy to a reader limited to "
               f"{meta['rate']}/s (`curl --limit-rate`)",
         [("rss_growth_mib", "proxy RSS growth, MiB", "{:.1f}", False),
          ("seconds", "time, s", "{:.1f}", False)]),
    ]
    for key, title, metrics in tables:
        runs = results["scenarios"].get(key)
        if not runs:
            continue
        lines += ["", f"## {title}", "", "| server | " + " | ".join(m[1] for m in metrics) + " |",
                  "|---|" + "---|" * len(metrics)]
        for name, rs in runs.items():
            lines.append(f"| {name} | " + " | ".join(cell(med(rs, m[0]), m[2]) for m in metrics) + " |")
        if "webserv" in runs:
            peers = [n for n in runs if n in PROXIES and n != "webserv"]
            for metric, label, fmt, higher in metrics:
                ours = med(runs["webserv"], metric)
                theirs = [(n, med(runs[n], metric)) for n in peers if med(runs[n], metric)]
                if not ours or not theirs:
                    continue
                best = (max if higher else min)(theirs, key=lambda t: t[1][0])
                if best[1][0] and ours[0]:
                    ratio = ours[0] / best[1][0] if higher else best[1][0] / ours[0]
                    lines.append(f"\n{label}: webserv against the best of the others ({best[0]}): "
                                 f"**{ratio:.2f}x** (above 1: webserv better)")
    lines.append("")
    return "\n".join(lines)


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 round of 1 s runs, a 256 MiB p2")
    p.add_argument("--rounds", type=int)
    p.add_argument("--duration", help="length of each wrk run, e.g. 5s")
    p.add_argument("--only", default="p1,p2")
    p.add_argument("--stream-bytes", type=int, help="size of the p2 response (default 1 GiB)")
    p.add_argument("--rate", default="100M", help="curl --limit-rate of the p2 reader")
    p.add_argument("--pin", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--out", help="markdown report (default bench/results/proxy.md)")
    p.add_argument("--json", help="also write the raw figures here")
    p.add_argument("--keep-tmp", action="store_true")
    p.add_argument("--webserv", required=True)
    p.add_argument("--ceiling", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--command", default="bench/proxy.sh")
    ARGS = p.parse_args()
    ARGS.rounds = ARGS.rounds or (1 if ARGS.quick else 3)
    ARGS.duration = ARGS.duration or ("1s" if ARGS.quick else "5s")
    ARGS.warmup = "1s"
    ARGS.stream_bytes = ARGS.stream_bytes or ((256 << 20) if ARGS.quick else (1 << 30))
    ARGS.out = ARGS.out or os.path.join(ARGS.repo, "bench", "results", "proxy.md")
    only = set(ARGS.only.split(","))
    ncpu = os.cpu_count() or 1
    pin = ARGS.pin == "on" or (ARGS.pin == "auto" and ncpu >= 2 and shutil.which("taskset"))
    pin_proxy = ["taskset", "-c", "0"] if pin else []
    others = ["taskset", "-c", f"1-{ncpu - 1}"] if pin else []
    ARGS.pin_client = others
    bench.ARGS = ARGS

    tmp = tempfile.mkdtemp(prefix="webserv-proxy-bench.")
    ARGS.tmp = tmp
    os.chmod(tmp, 0o755)
    for d in ("logs", "wrk", "www", "nginx-temp"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    docroot = os.path.join(tmp, "www")
    shutil.copy(os.path.join(ARGS.repo, "www/bench/1k.html"), os.path.join(docroot, "1k.html"))
    big = os.path.join(docroot, "big.bin")
    with open(big, "wb") as f:
        f.truncate(ARGS.stream_bytes)  # sparse: reads are zeros, nothing on disk
    for root, dirs, files in os.walk(docroot):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)

    ver = versions()
    results = {"scenarios": {}}
    load = [open("/proc/loadavg").read().split()[0]]
    started = []

    def launch(name, argv, port, pin_argv, check="/1k.html"):
        s = Server(name, argv, port, tmp, pin_argv, ver.get(name, name), check=check, check_size=1024)
        s.start()
        started.append(s)
        note(f"{name} is up on 127.0.0.1:{port}")
        return s

    def proxies_in_front_of(backend_port):
        ports = {n: free_port() for n in PROXIES}
        argv = proxy_configs(tmp, ports, backend_port)
        out = []
        for n in PROXIES:
            if n == "webserv":
                check = run([ARGS.webserv, "-t", argv[n][1]])
                if check.returncode != 0:
                    reason = (check.stderr.strip().splitlines() or ["-t failed"])[-1]
                    results["unavailable"] = f"`webserv -t` refuses the proxy configuration: {reason}"
                    note(f"webserv skipped: {reason}")
                    continue
            if not shutil.which(argv[n][0]) and n != "webserv":
                note(f"{n} is not installed: skipped")
                continue
            out.append(launch(n, argv[n], ports[n], pin_proxy))
        return out

    try:
        if "p1" in only:
            port = free_port()
            ceiling = launch("ceiling", [ARGS.ceiling, "127.0.0.1", str(port)], port, others, check="/")
            proxies = proxies_in_front_of(port)
            for s in proxies:
                wrk(s, "/1k.html", 1, 64, "1s")
            note("p1: 1 KiB through each proxy, keep-alive both sides, wrk -t1 -c64")
            results["scenarios"]["p1"] = interleave(proxies + [ceiling], lambda s, warm: wrk(
                s, "/1k.html", 1, 64, ARGS.warmup if warm else ARGS.duration), "rps")
            load.append(open("/proc/loadavg").read().split()[0])
            for s in proxies + [ceiling]:
                s.stop()
        if "p2" in only:
            port = free_port()
            backend = launch("nginx-backend", backend_nginx(tmp, docroot, port), port, others)
            proxies = proxies_in_front_of(port)
            note(f"p2: {ARGS.stream_bytes >> 20} MiB through each proxy to a reader at {ARGS.rate}/s")
            runs = {s.name: [] for s in proxies}
            for rnd in range(ARGS.rounds):
                for s in proxies:
                    r = slow_stream(s, "/big.bin", ARGS.stream_bytes, ARGS.rate)
                    runs[s.name].append(r)
                    note(f"  round {rnd + 1}  {s.name:<9} RSS +{r['rss_growth_mib']:.1f} MiB in {r['seconds']:.1f} s")
            results["scenarios"]["p2"] = runs
            for s in proxies + [backend]:
                s.stop()
    finally:
        for s in started:
            s.stop()
        if ARGS.keep_tmp:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    results["meta"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?"),
        "ncpu": ncpu, "kernel": platform.release(), "versions": ver, "rounds": ARGS.rounds,
        "duration": ARGS.duration, "pinned": bool(pin), "load": load, "command": ARGS.command,
        "rate": ARGS.rate, "stream_mib": ARGS.stream_bytes >> 20,
    }
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump(results, f, indent=1)
    md = render(results)
    os.makedirs(os.path.dirname(ARGS.out), exist_ok=True)
    with open(ARGS.out, "w") as f:
        f.write(md)
    print(md)
    note(f"report written to {os.path.relpath(ARGS.out, ARGS.repo)}")


if __name__ == "__main__":
    main()
