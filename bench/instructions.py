#!/usr/bin/env python3
"""bench/instructions.py: user-space instructions and system calls per cached 1 KiB request.

    python3 bench/instructions.py BINARY            # callgrind: instructions per request
    python3 bench/instructions.py BINARY --strace   # strace -f -c over 2,000 requests
    python3 bench/instructions.py BINARY --path fastcgi       # hello.php through php-fpm
    python3 bench/instructions.py BINARY --path fastcgi-keep  # the same, fastcgi_keep_conn on
    python3 bench/instructions.py BINARY --path cgi           # hello.sh, a process per request
    python3 bench/instructions.py BINARY --extra 'location = /status { stub_status; }'
                                                    # more lines in the server block
    python3 bench/instructions.py BINARY --file www/bench/100k.html \
        --header 'Accept-Encoding: gzip' --extra 'gzip on; gzip_comp_level 6;'
                                                    # another file, another request field

The server (one worker, access log off) serves www/bench/1k.html from a temporary root; one
keep-alive client sends N requests one after the other. Instructions: (Ir at 11,000 requests
- Ir at 1,000) / 10,000, which removes start-up and shutdown (repeatable to a few
instructions). System calls: the `strace -c` table of 2,000 requests (one client, so every
event-loop batch is one request). The method of PROFILE.md.

`--path fastcgi` serves `hello.php` from a php-fpm 8.2 pool (2 static children, a unix socket)
started for the run; only webserv runs under the tool, so the counts are webserv's. Its figure
moves by about 150 instructions between runs (how the answer's records fall into reads depends
on php-fpm's timing). `--path cgi` runs `hello.sh` with /bin/sh per request, with `--strace`
only (500 requests): under valgrind the spawn fails with ENOSYS.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EXTRA = ""
FILE = REPO + "/www/bench/1k.html"
HEADER = ""


PHP_FPM = "/usr/sbin/php-fpm8.2"


def start_fpm(tmp):
    """A php-fpm pool on a unix socket in tmp, ready; returns the process."""
    sock = tmp + "/fpm.sock"
    with open(tmp + "/fpm.conf", "w") as f:
        f.write(f"[global]\nerror_log = {tmp}/fpm.log\ndaemonize = no\n[pool]\nlisten = {sock}\n"
                "pm = static\npm.max_children = 2\npm.max_requests = 0\nclear_env = yes\n")
    fpm = subprocess.Popen([PHP_FPM, "-F", "-R", "-n", "-y", tmp + "/fpm.conf"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    return fpm


def run(binary, n, wrapper, path="static"):
    """Serves n requests under `wrapper(out)`; returns the wrapper's output file path's dir."""
    tmp = tempfile.mkdtemp(prefix="webserv-instr.")
    os.makedirs(tmp + "/www")
    port = free_port()
    fpm = None
    location = ""
    if path == "static":
        name = os.path.basename(FILE)
        shutil.copy(FILE, tmp + "/www/" + name)
        target = "/" + name
    elif path.startswith("fastcgi"):
        with open(tmp + "/www/hello.php", "w") as f:
            f.write('<?php\necho "Hello, world!\\n";\n')
        fpm = start_fpm(tmp)
        keep = "fastcgi_keep_conn on; " if path == "fastcgi-keep" else ""
        location = f"    location ~ \\.php$ {{ fastcgi_pass unix:{tmp}/fpm.sock; {keep}}}\n"
        target = "/hello.php"
    else:
        with open(tmp + "/www/hello.sh", "w") as f:
            f.write('printf "Content-Type: text/plain\\r\\n\\r\\nHello, world!\\n"\n')
        location = "    cgi .sh /bin/sh;\n"
        target = "/hello.sh"
    conf = tmp + "/webserv.conf"
    with open(conf, "w") as f:
        f.write(f"workers 1;\naccess_log off;\nerror_log {tmp}/error.log;\n"
                f"server {{\n    listen 127.0.0.1:{port};\n    root {tmp}/www;\n{location}{EXTRA}\n}}\n")
    p = subprocess.Popen(wrapper(tmp + "/out") + [binary, conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.05)
    header = f"{HEADER}\r\n" if HEADER else ""
    # One request first, read to its close: a compressed variant is made (chunked) and kept;
    # the same in both runs, so the difference leaves it out.
    warm = socket.create_connection(("127.0.0.1", port))
    warm.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n".encode())
    while warm.recv(65536):
        pass
    warm.close()
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\n{header}\r\n".encode()
    s = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for _ in range(n):
        s.sendall(request)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                assert buf.startswith(b"HTTP/1.1 200"), buf[:200]
                length = re.search(rb"(?i)content-length: (\d+)", buf[:end])
                if length and len(buf) >= end + 4 + int(length.group(1)):
                    buf = buf[end + 4 + int(length.group(1)):]
                    break
                # Chunked: the body here is one short line, never the last chunk's bytes.
                last = buf.find(b"\r\n0\r\n\r\n", end)
                if not length and last >= 0:
                    buf = buf[last + 7:]
                    break
            data = s.recv(65536)
            assert data, "the server closed the connection"
            buf += data
    s.close()
    # SIGINT to the server itself (under strace, the tracer's child).
    children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    server = int(children[0]) if wrapper(tmp)[0] == "strace" and children else p.pid
    os.kill(server, 2)
    p.wait()
    if fpm:
        fpm.terminate()
        fpm.wait()
    return tmp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--path", choices=["static", "fastcgi", "fastcgi-keep", "cgi"], default="static")
    ap.add_argument("--extra", default="", help="lines added to the server block")
    ap.add_argument("--file", help="the file requested (default www/bench/1k.html)")
    ap.add_argument("--header", default="", help="a field added to each request")
    args = ap.parse_args()
    global EXTRA, FILE, HEADER
    EXTRA = args.extra
    FILE = os.path.abspath(args.file) if args.file else FILE
    HEADER = args.header
    binary = os.path.abspath(args.binary)
    few = args.path == "cgi"
    if args.strace:
        n = 500 if few else 2000
        tmp = run(binary, n, lambda out: ["strace", "-f", "-c", "-o", out], args.path)
        print(f"{n:,} requests of {args.path}:")
        print(open(tmp + "/out").read())
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if few:
        raise SystemExit("--path cgi: with --strace only (valgrind cannot spawn the scripts)")
    totals = []
    low, high = (100, 1100) if few else (1000, 11000)
    for n in (low, high):
        tmp = run(binary, n, lambda out: ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"], args.path)
        with open(tmp + "/out") as f:
            total = next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))
        totals.append(total)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.path}: Ir at {low:,}: {totals[0]:,}; at {high:,}: {totals[1]:,}; "
          f"per request: {(totals[1] - totals[0]) / (high - low):,.1f}")


if __name__ == "__main__":
    main()
