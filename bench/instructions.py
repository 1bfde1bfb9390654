#!/usr/bin/env python3
"""bench/instructions.py: user-space instructions and system calls per cached 1 KiB request.

    python3 bench/instructions.py BINARY            # callgrind: instructions per request
    python3 bench/instructions.py BINARY --strace   # strace -f -c over 2,000 requests
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


def run(binary, n, wrapper):
    """Serves n requests under `wrapper(out)`; returns the wrapper's output file path's dir."""
    tmp = tempfile.mkdtemp(prefix="webserv-instr.")
    os.makedirs(tmp + "/www")
    name = os.path.basename(FILE)
    shutil.copy(FILE, tmp + "/www/" + name)
    port = free_port()
    conf = tmp + "/webserv.conf"
    with open(conf, "w") as f:
        f.write(f"workers 1;\naccess_log off;\nerror_log {tmp}/error.log;\n"
                f"server {{\n    listen 127.0.0.1:{port};\n    root {tmp}/www;\n{EXTRA}\n}}\n")
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
    warm.sendall(f"GET /{name} HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n".encode())
    while warm.recv(65536):
        pass
    warm.close()
    request = f"GET /{name} HTTP/1.1\r\nHost: x\r\n{header}\r\n".encode()
    s = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for _ in range(n):
        s.sendall(request)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                length = int(re.search(rb"Content-Length: (\d+)", buf[:end]).group(1))
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
    return tmp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--extra", default="", help="lines added to the server block")
    ap.add_argument("--file", help="the file requested (default www/bench/1k.html)")
    ap.add_argument("--header", default="", help="a field added to each request")
    args = ap.parse_args()
    global EXTRA, FILE, HEADER
    EXTRA = args.extra
    FILE = os.path.abspath(args.file) if args.file else FILE
    HEADER = args.header
    binary = os.path.abspath(args.binary)
    if args.strace:
        tmp = run(binary, 2000, lambda out: ["strace", "-f", "-c", "-o", out])
        print(open(tmp + "/out").read())
        shutil.rmtree(tmp, ignore_errors=True)
        return
    totals = []
    for n in (1000, 11000):
        tmp = run(binary, n, lambda out: ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
        with open(tmp + "/out") as f:
            total = next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))
        totals.append(total)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Ir at 1,000: {totals[0]:,}; at 11,000: {totals[1]:,}; "
          f"per request: {(totals[1] - totals[0]) / 10000:,.1f}")


if __name__ == "__main__":
    main()
