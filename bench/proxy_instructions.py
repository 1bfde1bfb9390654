#!/usr/bin/env python3
"""bench/proxy_instructions.py: user-space instructions and system calls per proxied 1 KiB request.

    python3 bench/proxy_instructions.py WEBSERV CEILING            # callgrind
    python3 bench/proxy_instructions.py WEBSERV CEILING --strace   # strace -f -c, 2,000 requests
    python3 bench/proxy_instructions.py nginx CEILING [--strace]   # the same of nginx
    python3 bench/proxy_instructions.py haproxy CEILING [--strace] # of HAProxy (nbthread 1)
    python3 bench/proxy_instructions.py h2o CEILING [--strace]     # of h2o (num-threads: 1)

The method of bench/instructions.py (PROFILE.md), through the proxy: bench/ceiling.c (built with
`gcc -O2 -o CEILING bench/ceiling.c`) is the backend; webserv (one worker, access log off) proxies
to it with an upstream `keepalive` pool, HTTP/1.1 and `Connection ""` (as bench/proxy.sh runs it);
one keep-alive client sends N requests one after the other. With `nginx` in place of WEBSERV,
nginx runs the configuration of bench/proxy.py in one process (`master_process off`); with
`haproxy` or `h2o`, their configurations of bench/proxy.py (backend connections kept). Instructions: (Ir at 6,000 requests -
Ir at 1,000) / 5,000, which removes start-up, the first connection to the backend and shutdown.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(600):
        try:
            return socket.create_connection(("127.0.0.1", port))
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def run(webserv, ceiling, n, wrapper):
    """Serves n proxied requests with webserv under `wrapper(out)`; returns the temporary dir."""
    tmp = tempfile.mkdtemp(prefix="webserv-proxy-instr.")
    backend_port, port = free_port(), free_port()
    backend = subprocess.Popen([ceiling, "127.0.0.1", str(backend_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(backend_port).close()
    conf = tmp + "/server.conf"
    location = (f"location / {{ proxy_pass http://backend; proxy_http_version 1.1; "
                f"proxy_set_header Connection \"\"; }}")
    if os.path.basename(webserv) == "nginx":
        os.makedirs(tmp + "/temp")
        with open(conf, "w") as f:
            f.write(f"master_process off;\ndaemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
                    f"error_log {tmp}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
                    f"http {{\n    access_log off;\n    keepalive_timeout 300s;\n"
                    f"    keepalive_requests 1000000;\n"
                    + "".join(f"    {t}_temp_path {tmp}/temp/{t};\n"
                              for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
                    + f"    upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 64; "
                    f"keepalive_requests 1000000; }}\n"
                    f"    server {{ listen 127.0.0.1:{port}; {location} }}\n}}\n")
        argv = [webserv, "-e", tmp + "/error.log", "-p", tmp, "-c", conf]
    elif os.path.basename(webserv) == "haproxy":
        with open(conf, "w") as f:
            f.write(f"global\n    nbthread 1\n    maxconn 1024\ndefaults\n    mode http\n"
                    f"    timeout connect 5s\n    timeout client 300s\n    timeout server 300s\n"
                    f"    timeout http-keep-alive 300s\n    option http-keep-alive\n"
                    f"    http-reuse always\nfrontend front\n    bind 127.0.0.1:{port}\n"
                    f"    default_backend back\nbackend back\n"
                    f"    server s1 127.0.0.1:{backend_port}\n")
        argv = [webserv, "-db", "-f", conf]
    elif os.path.basename(webserv) == "h2o":
        with open(conf, "w") as f:
            f.write(f"num-threads: 1\nhttp1-request-timeout: 300\nerror-log: {tmp}/error.log\n"
                    + ("user: root\n" if os.geteuid() == 0 else "")
                    + f"listen:\n  host: 127.0.0.1\n  port: {port}\nhosts:\n  default:\n"
                    f"    paths:\n      /:\n        proxy.reverse.url: http://127.0.0.1:{backend_port}/\n"
                    f"        proxy.timeout.keepalive: 300000\n")
        argv = [webserv, "-c", conf]
    else:
        with open(conf, "w") as f:
            f.write(f"workers 1;\naccess_log off;\nerror_log {tmp}/error.log;\n"
                    f"upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 64; }}\n"
                    f"server {{\n    listen 127.0.0.1:{port};\n    keepalive_timeout 300s;\n"
                    f"    {location}\n}}\n")
        argv = [webserv, conf]
    p = subprocess.Popen(wrapper(tmp + "/out") + argv,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = wait_port(port)
    request = b"GET /1k.html HTTP/1.1\r\nHost: x\r\n\r\n"
    buf = b""
    for _ in range(n):
        s.sendall(request)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                length = int(re.search(rb"(?i)content-length: *(\d+)", buf[:end]).group(1))
                if len(buf) >= end + 4 + length:
                    buf = buf[end + 4 + length:]
                    break
            data = s.recv(65536)
            assert data, "the server closed the connection"
            buf += data
    s.close()
    # SIGINT to the server itself (under strace, the tracer's child).
    children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    target = int(children[0]) if wrapper(tmp)[0] == "strace" and children else p.pid
    os.kill(target, 2)
    p.wait()
    backend.terminate()
    backend.wait()
    return tmp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("webserv")
    ap.add_argument("ceiling")
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--runs", type=int, default=1, help="repeat the measure (min and median)")
    args = ap.parse_args()
    named = ("nginx", "haproxy", "h2o")
    webserv = args.webserv if args.webserv in named else os.path.abspath(args.webserv)
    ceiling = os.path.abspath(args.ceiling)
    if args.strace:
        tmp = run(webserv, ceiling, 2000, lambda out: ["strace", "-f", "-c", "-o", out])
        print(open(tmp + "/out").read())
        shutil.rmtree(tmp, ignore_errors=True)
        return
    per = []
    for _ in range(args.runs):
        totals = []
        for n in (1000, 6000):
            tmp = run(webserv, ceiling, n,
                      lambda out: ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
            with open(tmp + "/out") as f:
                total = next(int(line.split()[1]) for line in f
                             if line.startswith(("summary:", "totals:")))
            totals.append(total)
            if n == 6000 and os.environ.get("KEEP_CALLGRIND"):
                shutil.copy(tmp + "/out", os.environ["KEEP_CALLGRIND"])
            shutil.rmtree(tmp, ignore_errors=True)
        per.append((totals[1] - totals[0]) / 5000)
        print(f"Ir at 1,000: {totals[0]:,}; at 6,000: {totals[1]:,}; per request: {per[-1]:,.1f}")
    if len(per) > 1:
        # How often the backend's answer is already there when it is read (and so how many
        # event-loop turns a request takes) varies from run to run: the minimum is the path.
        print(f"per request over {len(per)} runs: min {min(per):,.1f}, "
              f"median {statistics.median(per):,.1f}")


if __name__ == "__main__":
    main()
