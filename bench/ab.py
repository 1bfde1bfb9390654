#!/usr/bin/env python3
"""bench/ab.py: A/B two webserv binaries on one scenario, interleaved, with server CPU per request.

    python3 bench/ab.py OLD_BINARY NEW_BINARY [--path /1k.html] [--rounds 5] [--close]

Serves a temporary docroot (www/bench/1k.html and a 1 MiB file) with each binary (one worker,
pinned to CPU 0, wrk on CPU 1), runs `wrk -t1 -c64 -d3s` against them in turn for ROUNDS rounds
and prints the medians of req/s and of server CPU per request (utime + stime from /proc). CPU
per request moves much less than req/s on a busy machine: it is the figure to judge a change by,
next to callgrind's instruction counts (see PROFILE.md).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import bench  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binaries", nargs=2)
    p.add_argument("--path", default="/1k.html")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", default="3s")
    p.add_argument("--close", action="store_true", help="Connection: close (one connection per request)")
    args = p.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    tmp = tempfile.mkdtemp(prefix="webserv-ab.")
    for d in ("logs", "wrk", "www"):
        os.makedirs(os.path.join(tmp, d))
    shutil.copy(os.path.join(repo, "www/bench/1k.html"), os.path.join(tmp, "www/1k.html"))
    with open(os.path.join(tmp, "www/1m.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))

    class Args:
        pass

    bench.ARGS = Args()
    bench.ARGS.pin_client = ["taskset", "-c", "1"]
    bench.ARGS.tmp = tmp
    servers = []
    try:
        for i, binary in enumerate(args.binaries):
            port = bench.free_port()
            conf = os.path.join(tmp, f"webserv-{i}.conf")
            with open(conf, "w") as f:
                f.write(f"workers 1;\naccess_log off;\nerror_log {tmp}/logs/webserv-{i}.log;\n"
                        f"server {{\n    listen 127.0.0.1:{port};\n    root {tmp}/www;\n}}\n")
            s = bench.Server(f"{i}", [os.path.abspath(binary), conf], port, tmp, ["taskset", "-c", "0"], "")
            s.start()
            servers.append(s)
        runs = {s.name: [] for s in servers}
        for s in servers:
            bench.wrk(s, args.path, 1, 64, "1s", close=args.close)
        for _ in range(args.rounds):
            for s in servers:
                runs[s.name].append(bench.wrk(s, args.path, 1, 64, args.duration, close=args.close))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for s, binary in zip(servers, args.binaries):
        r = runs[s.name]
        cpu = [x["cpu_us"] for x in r]
        print(f"{binary}: server CPU {statistics.median(cpu):.2f} µs/request "
              f"({min(cpu):.2f}–{max(cpu):.2f}), {statistics.median(x['rps'] for x in r):,.0f} req/s")


if __name__ == "__main__":
    main()
