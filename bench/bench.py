#!/usr/bin/env python3
"""bench/bench.py: every benchmark scenario of webserv against nginx, lighttpd and h2o.

Run it through bench/all.sh, which installs what is missing, builds webserv and the C ceiling
server, then calls this with the paths. See bench/README.md for the scenarios and how to read the
results; the report goes to bench/RESULTS.md (or --out).

Every server runs as the invoking user from a configuration generated into a temporary
directory, on a free port of 127.0.0.1 chosen by the kernel. Rounds are interleaved (webserv,
nginx, lighttpd, h2o, webserv, ...) so that all servers see the same machine noise; each figure
is the median of the rounds with their min-max.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PEERS = ["nginx", "lighttpd", "h2o"]
STATIC = ["webserv"] + PEERS
CGI_SERVERS = ["webserv", "lighttpd", "h2o"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIZES = {"1k": ("/1k.html", 1024), "1m": ("/1m.bin", 1 << 20), "64m": ("/64m.bin", 64 << 20)}


def note(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def die(message):
    note(message)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


# --- /proc ---------------------------------------------------------------------------------------


def children_of():
    """ppid -> [pid] for every process on the machine."""
    tree = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def tree_of(pid):
    """pid and all its descendants."""
    tree = children_of()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def cpu_ticks(pid):
    """(utime + stime, cutime + cstime) of one process (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state): utime is field 14.
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


# --- servers -------------------------------------------------------------------------------------


class Server:
    def __init__(self, name, argv, port, tmp, pin, version, check="/1k.html", check_size=1024):
        self.name, self.argv, self.port, self.tmp = name, argv, port, tmp
        self.pin, self.version = pin, version
        self.check, self.check_size = check, check_size
        self.proc = None

    def start(self):
        log = open(os.path.join(self.tmp, "logs", f"{self.name}.out"), "ab")
        self.proc = subprocess.Popen(self.pin + self.argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(log.name, errors="replace") as f:
                    die(f"{self.name} exited at startup: {f.read()[-600:]}")
            try:
                status, body = http_get(self.port, self.check)
                if status == 200 and len(body) == self.check_size:
                    # Worker processes (nginx, lighttpd) are up once one of them answered.
                    time.sleep(0.2)
                    return
            except OSError:
                pass
            time.sleep(0.05)
        die(f"{self.name} does not answer 200 with {self.check_size} bytes on {self.check}")

    def pids(self):
        """The server's long-lived processes: the process it started as and its children, minus
        CGI scripts in flight (anything whose command is not the server's own)."""
        root = self.proc.pid
        own = comm(root)
        keep = []
        for p in tree_of(root):
            c = comm(p)
            # taskset execs the server, so root is the server itself. h2o's fastcgi-cgi is perl.
            if p == root or c == own or c.startswith(("nginx", "lighttpd", "h2o", "perl")):
                keep.append(p)
        return keep

    def cpu(self):
        """Ticks of the server's processes: own time, and time of children they reaped."""
        own = reaped = 0
        for p in self.pids():
            t = cpu_ticks(p)
            if t:
                own += t[0]
                reaped += t[1]
        return own, reaped

    def rss(self):
        return sum(rss_bytes(p) for p in self.pids())

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            note(f"{self.name} did not stop in 5 s; killing it")
            self.proc.kill()
            self.proc.wait()


def http_get(port, path, timeout=5):
    """One request on a fresh connection; (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return status, body


def dechunk(data):
    out = b""
    while True:
        line, _, data = data.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        if n == 0:
            return out
        out += data[:n]
        data = data[n + 2 :]


def configs(tmp, docroot, ports, workers):
    """Writes the configuration of each server; returns {name: argv}."""
    logs = os.path.join(tmp, "logs")
    cgi_bin = os.path.join(docroot, "cgi-bin")
    max_conns = 8192
    conf = {}

    path = os.path.join(tmp, f"webserv-{workers}.conf")
    with open(path, "w") as f:
        f.write(f"""workers {workers};
access_log off;
error_log {logs}/webserv-error.log;
server {{
    listen 127.0.0.1:{ports['webserv']};
    root {docroot};
    keepalive_timeout 300s;
    location /cgi-bin {{
        cgi .sh /bin/sh;
        cgi .py /usr/bin/python3;
    }}
}}
""")
    conf["webserv"] = [ARGS.webserv, path]

    path = os.path.join(tmp, f"nginx-{workers}.conf")
    os.makedirs(os.path.join(tmp, "nginx-temp"), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"""worker_processes {workers};
worker_rlimit_nofile {2 * max_conns + 64};
pid {tmp}/nginx.pid;
error_log {logs}/nginx-error.log warn;
events {{
    worker_connections {max_conns};
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    types {{
        text/html html;
        application/octet-stream bin;
    }}
    default_type application/octet-stream;
    client_body_temp_path {tmp}/nginx-temp/body;
    proxy_temp_path {tmp}/nginx-temp/proxy;
    fastcgi_temp_path {tmp}/nginx-temp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-temp/uwsgi;
    scgi_temp_path {tmp}/nginx-temp/scgi;
    server {{
        listen 127.0.0.1:{ports['nginx']};
        root {docroot};
    }}
}}
""")
    conf["nginx"] = ["nginx", "-e", f"{logs}/nginx-error.log", "-p", tmp, "-c", path, "-g", "daemon off;"]

    path = os.path.join(tmp, f"lighttpd-{workers}.conf")
    with open(path, "w") as f:
        f.write(f"""server.modules = ( "mod_cgi" )
server.document-root = "{docroot}"
server.bind = "127.0.0.1"
server.port = {ports['lighttpd']}
server.upload-dirs = ( "{tmp}" )
server.network-backend = "sendfile"
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 300
server.max-connections = {max_conns}
server.max-fds = {2 * max_conns + 64}
server.stream-response-body = 2
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".bin" => "application/octet-stream" )
$HTTP["url"] =~ "^/cgi-bin/" {{
    cgi.assign = ( ".sh" => "/bin/sh", ".py" => "/usr/bin/python3" )
}}
""")
        if workers > 1:
            f.write(f"server.max-worker = {workers}\n")
        if os.geteuid() == 0:
            # lighttpd refuses to keep root privileges.
            f.write('server.username = "www-data"\nserver.groupname = "www-data"\n')
    conf["lighttpd"] = ["lighttpd", "-D", "-f", path]

    # h2o: no access-log directive, hence no access log. CGI through the fastcgi-cgi wrapper it
    # ships (one perl process that forks each script), the documented way to run CGI on h2o.
    path = os.path.join(tmp, f"h2o-{workers}.conf")
    fastcgi_cgi = shutil.which("fastcgi-cgi") or "/usr/share/h2o/fastcgi-cgi"
    with open(path, "w") as f:
        f.write(f"""num-threads: {workers}
max-connections: {max_conns}
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
      /cgi-bin:
        file.dir: {cgi_bin}
        file.custom-handler:
          extension: [".sh", ".py"]
          fastcgi.spawn: "exec {fastcgi_cgi}"
      /:
        file.dir: {docroot}
        file.send-compressed: OFF
""")
    conf["h2o"] = ["h2o", "-c", path]

    if "ceiling" in ports:
        conf["ceiling"] = [ARGS.ceiling, "127.0.0.1", str(ports["ceiling"])]
    return conf


def versions():
    v = {}
    v["webserv"] = (run([ARGS.webserv, "--version"]).stdout.strip().splitlines() or ["?"])[0]
    if shutil.which("git"):
        commit = run(["git", "-C", ARGS.repo, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run(["git", "-C", ARGS.repo, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
        if commit:
            v["webserv"] += f" ({commit}{'+dirty' if dirty else ''})"
    v["nginx"] = run(["nginx", "-v"]).stderr.strip().replace("nginx version: ", "")
    v["lighttpd"] = run(["lighttpd", "-v"]).stdout.split(" - ")[0].strip()
    v["h2o"] = run(["h2o", "--version"]).stdout.splitlines()[0].replace(" version ", "/")
    v["ceiling"] = "bench/ceiling.c (gcc -O2)"
    wrk_version = run(["wrk", "-v"])
    v["wrk"] = (wrk_version.stdout or wrk_version.stderr or "wrk").splitlines()[0].split(" [")[0]
    return v


# --- load generators -----------------------------------------------------------------------------


def parse_duration_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        return None
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
    return float(m.group(1)) * factor


def wrk(server, path, threads, conns, duration, close=False, label=""):
    """One wrk run against `server`; returns a dict of figures, server CPU included."""
    argv = ARGS.pin_client + ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"http://127.0.0.1:{server.port}{path}")
    cpu0 = server.cpu()
    out = run(argv)
    cpu1 = server.cpu()
    text = out.stdout
    raw = os.path.join(ARGS.tmp, "wrk", f"{label or server.name}-{time.time():.3f}.txt")
    with open(raw, "w") as f:
        f.write(" ".join(argv) + "\n" + text + out.stderr)
    if out.returncode != 0:
        die(f"wrk failed against {server.name}: {out.stderr.strip()[-300:]}")
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if not m:
        die(f"no request count in wrk output against {server.name}: {raw}")
    r["requests"] = int(m.group(1))
    r["seconds"] = parse_duration_ms(m.group(2) + m.group(3)) / 1000
    r["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    r["p99_ms"] = parse_duration_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["errors"] = sum(int(x) for x in m.groups()) if m else 0
    # Reads reported by wrk after a server closes a Connection: close exchange are not errors.
    if close and m:
        r["errors"] = int(m.group(1)) + int(m.group(3)) + int(m.group(4))
    r["cpu_us"] = (cpu1[0] - cpu0[0]) * 1e6 / CLK_TCK / max(r["requests"], 1)
    r["cpu_all_us"] = (sum(cpu1) - sum(cpu0)) * 1e6 / CLK_TCK / max(r["requests"], 1)
    return r


def download(server, path, size):
    """MiB/s of one curl download of `path`."""
    argv = ARGS.pin_client + ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
                              f"http://127.0.0.1:{server.port}{path}"]
    out = run(argv)
    try:
        code, got, seconds = out.stdout.split()
    except ValueError:
        die(f"curl failed against {server.name}: {out.stderr.strip()}")
    if code != "200" or int(got) != size:
        die(f"{server.name} sent {code} with {got} bytes for {path}, want 200 with {size}")
    return {"mibps": size / (1 << 20) / float(seconds)}


def read_response(sock, buf=b""):
    """Reads one response with a Content-Length body from a blocking socket; returns the rest."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed before a response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    length = int(m.group(1)) if m else 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed within a body")
        rest += chunk
    return rest[length:]


def idle(server, count):
    """Holds `count` keep-alive connections that each made one request; returns the server's
    RSS growth per connection and the latency of fresh requests while they are held."""
    request = b"GET /1k.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
    time.sleep(0.3)
    before = server.rss()
    socks = []
    try:
        batch = 256
        for start in range(0, count, batch):
            opened = []
            for _ in range(min(batch, count - start)):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                s.sendall(request)
                opened.append(s)
            for s in opened:
                read_response(s)
            socks.extend(opened)
        time.sleep(0.5)
        held = server.rss()
        latencies = []
        for _ in range(ARGS.fresh_requests):
            t0 = time.perf_counter()
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                s.sendall(request)
                read_response(s)
            latencies.append((time.perf_counter() - t0) * 1000)
        # Every held connection is still open and served.
        alive = 0
        for s in socks[:: max(1, count // 50)]:
            s.sendall(request)
            read_response(s)
            alive += 1
    finally:
        for s in socks:
            s.close()
    time.sleep(1.0)
    after = server.rss()
    latencies.sort()
    return {
        "per_conn": (held - before) / count,
        "rss_before": before,
        "rss_held": held,
        "rss_after_close": after,
        "fresh_p50_ms": latencies[len(latencies) // 2],
        "fresh_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "alive_checked": alive,
    }


# --- scenarios -----------------------------------------------------------------------------------


def interleave(servers, fn, key):
    """Warm-up then ARGS.rounds interleaved rounds of fn(server); {name: [result, ...]}."""
    if ARGS.warmup:
        for s in servers:
            fn(s, warm=True)
    results = {s.name: [] for s in servers}
    for rnd in range(ARGS.rounds):
        for s in servers:
            r = fn(s, warm=False)
            results[s.name].append(r)
            bad = f"  ({r['non2xx']} non-2xx, {r['errors']} socket errors)" if r.get("non2xx") or r.get("errors") else ""
            note(f"  round {rnd + 1}  {s.name:<9} {r[key]:>12,.1f} {key}{bad}")
    return results


def scenario_wrk(servers, path, threads, conns, close=False):
    def fn(s, warm):
        return wrk(s, path, threads, conns, ARGS.warmup if warm else ARGS.duration, close=close)

    return interleave(servers, fn, "rps")


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 round of 1 s runs: a smoke test")
    p.add_argument("--rounds", type=int)
    p.add_argument("--duration", help="length of each wrk run, e.g. 5s")
    p.add_argument("--only", default="a,b,c,d,e,f,h", help="scenarios to run, e.g. a,e")
    p.add_argument("--idle-conns", type=int, default=5000)
    p.add_argument("--fresh-requests", type=int, default=200)
    p.add_argument("--pin", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--out", help="markdown report (default bench/RESULTS.md, --quick: bench/results/quick.md)")
    p.add_argument("--json", help="also write the raw figures here")
    p.add_argument("--keep-tmp", action="store_true")
    p.add_argument("--webserv", required=True)
    p.add_argument("--ceiling", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--command", default="bench/all.sh", help="the command line, for the report")
    ARGS = p.parse_args()
    ARGS.rounds = ARGS.rounds or (1 if ARGS.quick else 3)
    ARGS.duration = ARGS.duration or ("1s" if ARGS.quick else "5s")
    ARGS.warmup = "1s"
    ARGS.out = ARGS.out or os.path.join(ARGS.repo, "bench", "results/quick.md" if ARGS.quick else "RESULTS.md")
    only = set(ARGS.only.split(","))
    ncpu = os.cpu_count() or 1
    pin = ARGS.pin == "on" or (ARGS.pin == "auto" and ncpu >= 2 and shutil.which("taskset"))
    # One worker on CPU 0 (its scripts too), the load generator on CPU 1.
    pin_server = ["taskset", "-c", "0"] if pin else []
    ARGS.pin_client = ["taskset", "-c", "1"] if pin else []

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 2 * ARGS.idle_conns + 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < ARGS.idle_conns + 1024:
        die(f"the open-file limit ({hard}) is too low for {ARGS.idle_conns} idle connections")

    tmp = tempfile.mkdtemp(prefix="webserv-bench.")
    ARGS.tmp = tmp
    # Servers started as root drop to an unprivileged user (nginx workers, lighttpd).
    os.chmod(tmp, 0o755)
    for d in ("logs", "wrk", "www", "www/cgi-bin"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    docroot = os.path.join(tmp, "www")
    shutil.copy(os.path.join(ARGS.repo, "www/bench/1k.html"), os.path.join(docroot, "1k.html"))
    for name, size in (("1m.bin", 1 << 20), ("64m.bin", 64 << 20)):
        with open(os.path.join(docroot, name), "wb") as f:
            f.write(os.urandom(size))
    scripts = {
        "hello.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello\\n'\n",
        "hello.py": "#!/usr/bin/python3\nimport sys\nsys.stdout.write('Content-Type: text/plain\\r\\n\\r\\nhello\\n')\n",
    }
    for name, text in scripts.items():
        path = os.path.join(docroot, "cgi-bin", name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
    for root, dirs, files in os.walk(docroot):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            if not f.startswith("hello"):
                os.chmod(os.path.join(root, f), 0o644)

    ver = versions()
    results = {"scenarios": {}, "memory": {}}
    started = []
    load_samples = [open("/proc/loadavg").read().split()[0]]

    def launch(names, workers, pin_argv):
        ports = {n: free_port() for n in names}
        argv = configs(tmp, docroot, ports, workers)
        out = {}
        for n in names:
            kw = {"check": "/", "check_size": 1024} if n == "ceiling" else {}
            s = Server(n, argv[n], ports[n], tmp, pin_argv, ver[n], **kw)
            s.start()
            started.append(s)
            out[n] = s
            note(f"{n} ({ver[n]}) is up on 127.0.0.1:{ports[n]}, {workers} worker(s)")
        return out

    try:
        phase1 = [x for x in "abcdef" if x in only]
        if phase1:
            srv = launch(STATIC + ["ceiling"], 1, pin_server)
            static = [srv[n] for n in STATIC]
            # Warm-up: every file once through every server, then RSS as the baseline.
            for s in static:
                for path, size in SIZES.values():
                    status, body = http_get(s.port, path, timeout=30)
                    if status != 200 or len(body) != size:
                        die(f"{s.name} answers {status} with {len(body)} bytes for {path}")
            for name in CGI_SERVERS:
                for script in scripts:
                    status, body = http_get(srv[name].port, f"/cgi-bin/{script}")
                    if status != 200 or body != b"hello\n":
                        die(f"{name} answers {status} {body[:80]!r} for /cgi-bin/{script}")
            # Then one short run of each kind of load, so that the RSS baseline is that of a
            # server that has seen every scenario (a, b, c, e) once.
            for s in static:
                wrk(s, "/1k.html", 1, 64, "1s")
                wrk(s, "/1k.html", 1, 64, "1s", close=True)
                wrk(s, "/1m.bin", 1, 16, "1s")
                if s.name in CGI_SERVERS:
                    wrk(s, "/cgi-bin/hello.sh", 1, 16, "1s")
            for s in static:
                results["memory"][s.name] = {"warm": s.rss()}
            with_ceiling = static + [srv["ceiling"]]

            for t in (1, 2):
                if "a" in only:
                    note(f"a: 1 KiB, keep-alive, wrk -t{t} -c64")
                    results["scenarios"][f"a-t{t}"] = scenario_wrk(with_ceiling, "/1k.html", t, 64)
                    load_samples.append(open("/proc/loadavg").read().split()[0])
            for t in (1, 2):
                if "b" in only:
                    note(f"b: 1 KiB, Connection: close, wrk -t{t} -c64")
                    results["scenarios"][f"b-t{t}"] = scenario_wrk(with_ceiling, "/1k.html", t, 64, close=True)
                    load_samples.append(open("/proc/loadavg").read().split()[0])
            if "c" in only:
                note("c: 1 MiB, keep-alive, wrk -t1 -c16")
                r = scenario_wrk(static, "/1m.bin", 1, 16)
                for runs in r.values():
                    for x in runs:
                        x["mibps"] = x["rps"]  # 1 MiB per response
                results["scenarios"]["c"] = r
            if "d" in only:
                note("d: one 64 MiB download (curl), median of 3 per round")

                def fn(s, warm):
                    n = 1 if warm else 3
                    return {"mibps": statistics.median(download(s, "/64m.bin", 64 << 20)["mibps"] for _ in range(n))}

                results["scenarios"]["d"] = interleave(static, fn, "mibps")
            if "e" in only:
                for script in scripts:
                    note(f"e: CGI {script}, wrk -t1 -c16")
                    cgi = [srv[n] for n in CGI_SERVERS]
                    results["scenarios"][f"e-{script}"] = scenario_wrk(cgi, f"/cgi-bin/{script}", 1, 16)
                    load_samples.append(open("/proc/loadavg").read().split()[0])
            for s in static:
                results["memory"][s.name]["end"] = s.rss()
            if "f" in only:
                note(f"f: {ARGS.idle_conns} idle keep-alive connections")
                r = {}
                for s in static:
                    r[s.name] = [idle(s, ARGS.idle_conns)]
                    note(f"  {s.name:<9} {r[s.name][0]['per_conn']:8.0f} bytes/connection, fresh request "
                         f"p50 {r[s.name][0]['fresh_p50_ms']:.2f} ms p99 {r[s.name][0]['fresh_p99_ms']:.2f} ms")
                results["scenarios"]["f"] = r
                for s in static:
                    results["memory"][s.name]["after_idle"] = s.rss()
            for s in list(srv.values()):
                s.stop()

        if "h" in only:
            # Two workers each, unpinned: the servers and wrk share both CPUs.
            srv = launch(STATIC, 2, [])
            static = [srv[n] for n in STATIC]
            for s in static:
                wrk(s, "/1k.html", 2, 64, "1s")
            saved_pin = ARGS.pin_client
            ARGS.pin_client = []
            note("h: 2 workers, 1 KiB keep-alive, wrk -t2 -c64 (unpinned)")
            results["scenarios"]["h-a"] = scenario_wrk(static, "/1k.html", 2, 64)
            note("h: 2 workers, 1 KiB Connection: close, wrk -t2 -c64 (unpinned)")
            results["scenarios"]["h-b"] = scenario_wrk(static, "/1k.html", 2, 64, close=True)
            ARGS.pin_client = saved_pin
            # The same with one worker, unpinned, for the scaling figure.
            for s in static:
                s.stop()
            srv = launch(STATIC, 1, [])
            static = [srv[n] for n in STATIC]
            ARGS.pin_client = []
            note("h: 1 worker, the same two runs unpinned (for the scaling ratio)")
            results["scenarios"]["h1-a"] = scenario_wrk(static, "/1k.html", 2, 64)
            results["scenarios"]["h1-b"] = scenario_wrk(static, "/1k.html", 2, 64, close=True)
            ARGS.pin_client = saved_pin
            for s in static:
                s.stop()
            load_samples.append(open("/proc/loadavg").read().split()[0])
    finally:
        for s in started:
            s.stop()
        if ARGS.keep_tmp:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?"),
        "ncpu": ncpu,
        "kernel": platform.release(),
        "versions": ver,
        "rounds": ARGS.rounds,
        "duration": ARGS.duration,
        "pinned": bool(pin),
        "load": load_samples,
        "command": ARGS.command,
        "idle_conns": ARGS.idle_conns,
    }
    results["meta"] = meta
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump(results, f, indent=1)
    import report

    md = report.render(results)
    os.makedirs(os.path.dirname(ARGS.out), exist_ok=True)
    with open(ARGS.out, "w") as f:
        f.write(md)
    print(md)
    note(f"report written to {os.path.relpath(ARGS.out, ARGS.repo)}")


if __name__ == "__main__":
    main()
