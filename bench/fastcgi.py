#!/usr/bin/env python3
"""bench/fastcgi.py: PHP through php-fpm behind webserv, nginx and lighttpd, and through
webserv's own php-cgi path.

    python3 bench/fastcgi.py WEBSERV [--rounds 3] [--duration 5s] [--conns 4] [--children 4]
                                     [--out bench/results/fastcgi.md] [--keep-tmp]

One php-fpm pool (static, --children processes, on a unix socket) serves `hello.php` to every
server in turn; each server runs one worker. php-fpm and the server share CPU 0, wrk runs on
CPU 1 (`taskset`), so the CPU a server spends per request is CPU the pool does not get: req/s
shows it, and the server's own CPU per request (utime + stime of its processes over the run,
from /proc, divided by the requests wrk completed) measures it directly.

Servers, each with `-t1 -c CONNS` of wrk for DURATION, rounds interleaved (every server once,
then again), medians with min-max:
- webserv: `fastcgi_pass unix:SOCK` (a connection per request), and with `fastcgi_keep_conn
  on` (kept connections, at most 4 per worker);
- nginx 1.22: `fastcgi_pass unix:SOCK` with its `fastcgi.conf`, and with an `upstream` of
  `keepalive 8` and `fastcgi_keep_conn on`;
- lighttpd 1.4: `mod_fastcgi` with `"socket" => SOCK, "check-local" => "disable"`;
- webserv with `cgi .php /usr/bin/php-cgi` (a process per request): the path FastCGI replaces.

Run as root, nginx's worker runs as root too (`user root;`) and lighttpd as www-data (it refuses
root), so the socket is made 0666. Needs: nginx, lighttpd, php8.2-fpm, php8.2-cgi, wrk, taskset.
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import comm, cpu_ticks, die, free_port, http_get, note, tree_of  # noqa: E402

PHP_FPM = "/usr/sbin/php-fpm8.2"
PHP_CGI = "/usr/bin/php-cgi"
HELLO = b"<?php\necho \"Hello, world!\\n\";\n"

NGINX_FASTCGI_CONF = """
        fastcgi_param  SCRIPT_FILENAME    $document_root$fastcgi_script_name;
        fastcgi_param  QUERY_STRING       $query_string;
        fastcgi_param  REQUEST_METHOD     $request_method;
        fastcgi_param  CONTENT_TYPE       $content_type;
        fastcgi_param  CONTENT_LENGTH     $content_length;
        fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
        fastcgi_param  REQUEST_URI        $request_uri;
        fastcgi_param  DOCUMENT_URI       $document_uri;
        fastcgi_param  DOCUMENT_ROOT      $document_root;
        fastcgi_param  SERVER_PROTOCOL    $server_protocol;
        fastcgi_param  REQUEST_SCHEME     $scheme;
        fastcgi_param  HTTPS              $https if_not_empty;
        fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
        fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;
        fastcgi_param  REMOTE_ADDR        $remote_addr;
        fastcgi_param  REMOTE_PORT        $remote_port;
        fastcgi_param  SERVER_ADDR        $server_addr;
        fastcgi_param  SERVER_PORT        $server_port;
        fastcgi_param  SERVER_NAME        $server_name;
        fastcgi_param  REDIRECT_STATUS    200;
"""


class Proc:
    """A process the benchmark started (a server, or php-fpm), and the CPU of its tree."""

    def __init__(self, name, argv, tmp, pin):
        self.name = name
        log = open(os.path.join(tmp, f"{name}.log"), "ab")
        self.log = log.name
        self.proc = subprocess.Popen(pin + argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def pids(self):
        root = self.proc.pid
        own = comm(root)
        # Not php-cgi: the scripts a CGI server starts are counted apart (reaped children).
        return [p for p in tree_of(root) if p == root or comm(p) == own or comm(p).startswith(("nginx", "lighttpd", "php-fpm"))]

    def cpu(self):
        own = reaped = 0
        for p in self.pids():
            t = cpu_ticks(p)
            if t:
                own += t[0]
                reaped += t[1]
        return own, reaped

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_http(server, port):
    deadline = time.time() + 10
    while time.time() < deadline:
        if server.proc.poll() is not None:
            die(f"{server.name} exited: {open(server.log, errors='replace').read()[-600:]}")
        try:
            status, body = http_get(port, "/hello.php")
            if status == 200 and body == b"Hello, world!\n":
                time.sleep(0.2)
                return
        except OSError:
            pass
        time.sleep(0.05)
    die(f"{server.name} does not answer hello.php on port {port}")


def configs(tmp, www, sock, ports, webserv):
    root = os.geteuid() == 0
    out = {}
    for name, extra in [("webserv", ""), ("webserv-keep", "fastcgi_keep_conn on;")]:
        path = f"{tmp}/{name}.conf"
        with open(path, "w") as f:
            f.write(f"""workers 1;
access_log off;
error_log {tmp}/{name}-error.log;
server {{
    listen 127.0.0.1:{ports[name]};
    root {www};
    keepalive_timeout 300s;
    location ~ \\.php$ {{
        fastcgi_pass unix:{sock};
        {extra}
    }}
}}
""")
        out[name] = [webserv, path]
    path = f"{tmp}/webserv-php-cgi.conf"
    with open(path, "w") as f:
        f.write(f"""workers 1;
access_log off;
error_log {tmp}/webserv-php-cgi-error.log;
server {{
    listen 127.0.0.1:{ports['webserv-php-cgi']};
    root {www};
    keepalive_timeout 300s;
    cgi .php {PHP_CGI};
}}
""")
    out["webserv-php-cgi"] = [webserv, path]
    for name, upstream, pass_to, keep in [
        ("nginx", "", f"unix:{sock}", ""),
        ("nginx-keep", f"upstream php {{ server unix:{sock}; keepalive 8; }}", "php", "fastcgi_keep_conn on;"),
    ]:
        path = f"{tmp}/{name}.conf"
        os.makedirs(f"{tmp}/{name}-temp", exist_ok=True)
        with open(path, "w") as f:
            f.write(f"""worker_processes 1;
{'user root;' if root else ''}
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    default_type text/html;
    client_body_temp_path {tmp}/{name}-temp/body;
    proxy_temp_path {tmp}/{name}-temp/proxy;
    fastcgi_temp_path {tmp}/{name}-temp/fastcgi;
    uwsgi_temp_path {tmp}/{name}-temp/uwsgi;
    scgi_temp_path {tmp}/{name}-temp/scgi;
    {upstream}
    server {{
        listen 127.0.0.1:{ports[name]};
        root {www};
        location ~ \\.php$ {{
            fastcgi_pass {pass_to};
            {keep}
            {NGINX_FASTCGI_CONF}
        }}
    }}
}}
""")
        out[name] = ["nginx", "-e", f"{tmp}/{name}-error.log", "-p", tmp, "-c", path, "-g", "daemon off;"]
    path = f"{tmp}/lighttpd.conf"
    with open(path, "w") as f:
        f.write(f"""server.modules = ( "mod_fastcgi" )
server.document-root = "{www}"
server.bind = "127.0.0.1"
server.port = {ports['lighttpd']}
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 300
fastcgi.server = ( ".php" => (( "socket" => "{sock}", "check-local" => "disable" )) )
""")
        if root:
            f.write('server.username = "www-data"\nserver.groupname = "www-data"\n')
    out["lighttpd"] = ["lighttpd", "-D", "-f", path]
    return out


def wrk(port, conns, duration, pin):
    r = subprocess.run(pin + ["wrk", "-t1", f"-c{conns}", f"-d{duration}", "--latency",
                              f"http://127.0.0.1:{port}/hello.php"], capture_output=True, text=True)
    text = r.stdout
    requests = int(next(line.split()[0] for line in text.splitlines() if "requests in" in line))
    rps = float(next(line.split()[1] for line in text.splitlines() if line.startswith("Requests/sec")))
    bad = any(("Non-2xx" in line or "Socket errors" in line) for line in text.splitlines())
    p99 = next((line.split()[1] for line in text.splitlines() if line.strip().startswith("99%")), "?")
    return requests, rps, p99, bad


def fmt(values, unit=""):
    med = statistics.median(values)
    return f"{med:,.1f}{unit} ({min(values):,.1f}–{max(values):,.1f})"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("webserv")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", default="5s")
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--children", type=int, default=4)
    p.add_argument("--out", default=None)
    p.add_argument("--keep-tmp", action="store_true")
    a = p.parse_args()
    for cmd in ["nginx", "lighttpd", "wrk", "taskset", PHP_FPM, PHP_CGI]:
        if not shutil.which(cmd):
            die(f"{cmd} not found (apt-get install nginx lighttpd php8.2-fpm php8.2-cgi wrk)")
    webserv = os.path.abspath(a.webserv)
    ncpu = os.cpu_count() or 1
    pin_server = ["taskset", "-c", "0"] if ncpu >= 2 else []
    pin_client = ["taskset", "-c", "1"] if ncpu >= 2 else []

    tmp = tempfile.mkdtemp(prefix="webserv-fastcgi-bench.")
    os.chmod(tmp, 0o755)
    www = f"{tmp}/www"
    os.makedirs(www)
    with open(f"{www}/hello.php", "wb") as f:
        f.write(HELLO)
    sock = f"{tmp}/fpm.sock"
    with open(f"{tmp}/fpm.conf", "w") as f:
        f.write(f"""[global]
error_log = {tmp}/fpm.log
daemonize = no
[pool]
listen = {sock}
listen.mode = 0666
listen.backlog = 1024
pm = static
pm.max_children = {a.children}
pm.max_requests = 0
clear_env = yes
""")
    names = ["webserv", "webserv-keep", "nginx", "nginx-keep", "lighttpd", "webserv-php-cgi"]
    ports = {n: free_port() for n in names}
    argv = configs(tmp, www, sock, ports, webserv)
    fpm = Proc("php-fpm", [PHP_FPM, "-F", "-R", "-n", "-y", f"{tmp}/fpm.conf"], tmp, pin_server)
    deadline = time.time() + 10
    while not os.path.exists(sock) and time.time() < deadline:
        time.sleep(0.05)
    results = {n: {"rps": [], "cpu": [], "fpm": [], "p99": [], "bad": False} for n in names}
    load = []
    try:
        for rnd in range(a.rounds + 1):
            for name in names:
                server = Proc(name, argv[name], tmp, pin_server)
                try:
                    wait_http(server, ports[name])
                    before, fpm_before = server.cpu(), fpm.cpu()[0]
                    t0 = time.time()
                    requests, rps, p99, bad = wrk(ports[name], a.conns, a.duration, pin_client)
                    elapsed = time.time() - t0
                    after, fpm_after = server.cpu(), fpm.cpu()[0]
                finally:
                    server.stop()
                if rnd == 0:
                    continue  # the warm-up round
                tick = 1e6 / os.sysconf("SC_CLK_TCK")
                own = (after[0] - before[0]) * tick / requests
                # php-cgi: the scripts' CPU (reaped children) is the PHP side, as php-fpm's is.
                php = ((after[1] - before[1]) if name == "webserv-php-cgi" else (fpm_after - fpm_before)) * tick / requests
                r = results[name]
                r["rps"].append(rps)
                r["cpu"].append(own)
                r["fpm"].append(php)
                r["p99"].append(p99)
                r["bad"] |= bad
                note(f"round {rnd} {name}: {rps:,.0f} req/s, server {own:.1f} µs/req, php {php:.1f} µs/req, p99 {p99} ({elapsed:.1f} s)")
            load.append(open("/proc/loadavg").read().split()[0])
    finally:
        fpm.stop()
        if a.keep_tmp:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    med = {n: statistics.median(results[n]["rps"]) for n in names}
    cpu = {n: statistics.median(results[n]["cpu"]) for n in names}
    lines = [
        f"# PHP through php-fpm: webserv, nginx, lighttpd ({datetime.date.today()})",
        "",
        f"`python3 bench/fastcgi.py` on {platform.node()} ({ncpu} CPUs, Linux {platform.release()}): "
        f"`hello.php` from one php-fpm 8.2 pool of {a.children} static processes on a unix socket; one "
        f"worker per server; php-fpm and the server on CPU 0, `wrk -t1 -c{a.conns} -d{a.duration}` on "
        f"CPU 1; {a.rounds} interleaved rounds after a warm-up round, medians with min–max. The machine "
        f"is shared with other work (load average at the end of each round: {', '.join(load)}): read "
        "the ratios and the CPU per request rather than the absolute req/s.",
        "",
        "| server | req/s | server CPU µs/request | PHP CPU µs/request | p99 |",
        "|---|---:|---:|---:|---|",
    ]
    for n in names:
        r = results[n]
        flag = " (!)" if r["bad"] else ""
        lines.append(f"| {n}{flag} | {fmt(r['rps'])} | {fmt(r['cpu'])} | {fmt(r['fpm'])} | {', '.join(r['p99'])} |")
    best_peer = max(["nginx", "nginx-keep", "lighttpd"], key=lambda n: med[n])
    best_ours = max(["webserv", "webserv-keep"], key=lambda n: med[n])
    lines += [
        "",
        f"- req/s, webserv ({best_ours}) against the better peer ({best_peer}): **{med[best_ours] / med[best_peer]:.2f}x** (target 1.1x)",
        f"- req/s, webserv against nginx, a connection per request: {med['webserv'] / med['nginx']:.2f}x; "
        f"kept connections: {med['webserv-keep'] / med['nginx-keep']:.2f}x; against lighttpd: {med['webserv'] / med['lighttpd']:.2f}x",
        f"- server CPU per request, nginx / webserv: {cpu['nginx'] / cpu['webserv']:.2f}x (a connection per request), "
        f"{cpu['nginx-keep'] / cpu['webserv-keep']:.2f}x (kept); lighttpd / webserv: {cpu['lighttpd'] / cpu['webserv']:.2f}x",
        f"- php-fpm against webserv's php-cgi path: {med[best_ours] / med['webserv-php-cgi']:.1f}x the req/s",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if a.out:
        with open(a.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
