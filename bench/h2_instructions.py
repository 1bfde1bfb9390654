#!/usr/bin/env python3
"""bench/h2_instructions.py: user-space instructions per cached 1 KiB request over HTTP/2.

    python3 bench/h2_instructions.py BINARY          # prior knowledge on a plain address
    python3 bench/h2_instructions.py BINARY --tls    # over TLS (ALPN h2), crypto included

The server (one worker, access log off) runs under callgrind and serves www/bench/1k.html;
`h2load -c 1 -m 10 -n N` sends N requests on one connection, ten streams at a time (as a
browser loading a page does). Instructions per request: (Ir at 11,000 requests - Ir at 1,000)
/ 10,000, which removes start-up, the handshake and shutdown; only the worker's event loop
(`Worker::run`) is counted (`--toggle-collect`). KEEP_CALLGRIND=FILE keeps the 11,000 run's
callgrind output. The method of bench/instructions.py (HTTP/1.1) and PROFILE.md.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary, n, tls):
    tmp = tempfile.mkdtemp(prefix="webserv-h2-instr.")
    os.makedirs(tmp + "/www")
    shutil.copy(REPO + "/www/bench/1k.html", tmp + "/www/1k.html")
    port = free_port()
    listen = f"listen 127.0.0.1:{port}" + (" ssl" if tls else "")
    extra = ""
    if tls:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-keyout", tmp + "/key.pem", "-out", tmp + "/cert.pem"],
                       check=True, capture_output=True)
        extra = f"    ssl_certificate {tmp}/cert.pem;\n    ssl_certificate_key {tmp}/key.pem;\n"
    conf = tmp + "/webserv.conf"
    with open(conf, "w") as f:
        f.write(f"workers 1;\naccess_log off;\nerror_log {tmp}/error.log;\n"
                f"server {{\n    {listen};\n    http2 on;\n{extra}    root {tmp}/www;\n}}\n")
    out = tmp + "/out"
    # Only the worker's event loop is counted (Worker::run, never inlined): the start-up
    # (entropy gathering, the configuration, the worker's set-up) varies by millions of
    # instructions from one run to the next.
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          "--toggle-collect=*Worker::run*", binary, conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.05)
    scheme = "https" if tls else "http"
    got = subprocess.run(["h2load", "-c", "1", "-m", "10", "-n", str(n),
                          f"{scheme}://127.0.0.1:{port}/1k.html"],
                         capture_output=True, text=True).stdout
    assert f"{n} succeeded" in got, got
    os.kill(p.pid, signal.SIGINT)
    p.wait()
    with open(out) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))
    if n > 1000 and os.environ.get("KEEP_CALLGRIND"):
        shutil.copy(out, os.environ["KEEP_CALLGRIND"])
    shutil.rmtree(tmp, ignore_errors=True)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--tls", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    totals = [run(binary, n, args.tls) for n in (1000, 11000)]
    print(f"Ir at 1,000: {totals[0]:,}; at 11,000: {totals[1]:,}; "
          f"per request: {(totals[1] - totals[0]) / 10000:,.1f}")


if __name__ == "__main__":
    main()
