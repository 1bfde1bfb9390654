#!/usr/bin/env python3
"""bench/scale.py: the scenarios of issue 16 (scale), webserv against nginx, lighttpd and h2o.

    python3 bench/scale.py --webserv target/release/webserv [--rounds 5] [--rt] [--only w,c,d,i,s]

Scenarios (each in interleaved rounds, medians with min-max; see bench/PROFILE.md):

  w  every core: 2 workers against 1 on 1 KiB keep-alive and Connection: close (wrk -t2 -c64,
     unpinned), against nginx, lighttpd and h2o with 2 workers; for webserv with 2 workers, each
     worker's CPU ticks (/proc/PID/task/*/stat) and connections (its epoll set) during the run
  c  Connection: close, server CPU per request (wrk -t1 -c64; the server on CPU 0, wrk on CPU 1;
     /proc/PID/task/*/schedstat, nanoseconds)
  d  one 64 MiB download with curl, MiB/s (server on CPU 0, curl on CPU 1)
  i  fresh-request latency (p50, p99 of 200 sequential requests) while 5,000 idle keep-alive
     connections are held
  s  1,000 slowloris connections (a request head sent in two pieces, never finished): server RSS
     growth per connection

--rt runs the server and the client of d and i at SCHED_FIFO (root only): they are short, and
on a machine shared with other work it keeps the neighbours out of the measurement. The wrk
scenarios (w, c) never run at real-time priority: they would starve the machine for seconds.

Reuses bench/bench.py (server configurations, start/stop, wrk, idle connections). Writes a
markdown report to bench/results/scale.md (or --out).
"""

import argparse
import datetime
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

PEERS = ["nginx", "lighttpd", "h2o"]
ALL = ["webserv"] + PEERS


def note(message):
    bench.note(message)


def med(values):
    values = sorted(values)
    return values[len(values) // 2], values[0], values[-1]


def cell(values, fmt="{:,.0f}"):
    m, lo, hi = med(values)
    return f"{fmt.format(m)} ({fmt.format(lo)}–{fmt.format(hi)})"


# --- /proc ---------------------------------------------------------------------------------------


def tasks(pids):
    out = []
    for pid in pids:
        try:
            out += [(pid, int(t)) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    return out


def run_ns(server):
    """Nanoseconds on CPU of every task of the server's processes."""
    total = 0
    for pid, tid in tasks(server.pids()):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def thread_ticks(pid, prefix="worker-"):
    out = {}
    for _, tid in tasks([pid]):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if name.startswith(prefix):
            out[name] = int(fields[11]) + int(fields[12])
    return out


def connections_per_worker(pid):
    """Client connections in each epoll instance of `pid` (one per worker)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.read().splitlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A":
                        listening.add(fields[9])
        except OSError:
            pass
    counts = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if "eventpoll" not in os.readlink(f"/proc/{pid}/fd/{fd}"):
                continue
            n = 0
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("tfd:"):
                        target = os.readlink(f"/proc/{pid}/fd/{line.split()[1]}")
                        if target.startswith("socket:[") and target[8:-1] not in listening:
                            n += 1
            counts.append(n)
        except OSError:
            continue
    return sorted(counts, reverse=True)


def set_fifo(server, on):
    policy = os.SCHED_FIFO if on else os.SCHED_OTHER
    param = os.sched_param(50 if on else 0)
    for _, tid in tasks(server.pids()):
        try:
            os.sched_setscheduler(tid, policy, param)
        except OSError:
            pass


# --- servers -------------------------------------------------------------------------------------


class Fleet:
    def __init__(self, tmp, docroot):
        self.tmp, self.docroot, self.started = tmp, docroot, []
        self.ver = bench.versions()

    def launch(self, names, workers, pin, label=""):
        # bench.configs writes every server's configuration: give each a port.
        ports = {n: bench.free_port() for n in ALL}
        argv = bench.configs(self.tmp, self.docroot, ports, workers)
        out = {}
        for n in names:
            s = bench.Server(n + label, argv[n], ports[n], self.tmp, pin, self.ver[n])
            s.start()
            self.started.append(s)
            out[n + label] = s
            note(f"{n}{label} is up on 127.0.0.1:{ports[n]}, {workers} worker(s)")
        return out

    def stop(self, servers):
        for s in servers:
            s.stop()


# --- scenarios -----------------------------------------------------------------------------------


def scenario_workers(fleet, rounds, duration):
    one = fleet.launch(["webserv"], 1, [], label="-1w")
    two = fleet.launch(ALL, 2, [], label="-2w")
    servers = list(one.values()) + list(two.values())
    bench.ARGS.pin_client = []
    for s in servers:
        bench.wrk(s, "/1k.html", 2, 64, "1s")
    res = {"ka": {s.name: [] for s in servers}, "close": {s.name: [] for s in servers}}
    spread = []
    webserv2 = two["webserv-2w"]
    for rnd in range(rounds):
        for s in servers:
            for kind, close in (("ka", False), ("close", True)):
                before = thread_ticks(s.proc.pid) if s is webserv2 else None
                sample = {}
                if s is webserv2 and not close:
                    half = bench.parse_duration_ms(duration) / 2000

                    def probe():
                        time.sleep(half)
                        sample["conns"] = connections_per_worker(s.proc.pid)

                    t = threading.Thread(target=probe)
                    t.start()
                r = bench.wrk(s, "/1k.html", 2, 64, duration, close=close)
                res[kind][s.name].append(r["rps"])
                if s is webserv2 and not close:
                    t.join()
                    after = thread_ticks(s.proc.pid)
                    ticks = sorted((after[k] - before.get(k, 0) for k in after), reverse=True)
                    spread.append({"ticks": ticks, "conns": sample.get("conns", [])})
                note(f"  round {rnd + 1} {kind:5} {s.name:<12} {r['rps']:>10,.0f} req/s")
    fleet.stop(servers)
    return {"rps": res, "spread": spread}


def scenario_close_cpu(fleet, rounds, duration):
    srv = fleet.launch(ALL, 1, ["taskset", "-c", "0"])
    bench.ARGS.pin_client = ["taskset", "-c", "1"]
    servers = list(srv.values())
    for s in servers:
        bench.wrk(s, "/1k.html", 1, 64, "1s", close=True)
    res = {s.name: [] for s in servers}
    rps = {s.name: [] for s in servers}
    for rnd in range(rounds):
        for s in servers:
            a = run_ns(s)
            r = bench.wrk(s, "/1k.html", 1, 64, duration, close=True)
            b = run_ns(s)
            res[s.name].append((b - a) / 1000 / max(r["requests"], 1))
            rps[s.name].append(r["rps"])
            note(f"  round {rnd + 1} {s.name:<9} {res[s.name][-1]:6.2f} us/request, {r['rps']:,.0f} req/s")
    fleet.stop(servers)
    return {"cpu_us": res, "rps": rps}


def scenario_download(fleet, rounds, rt):
    srv = fleet.launch(ALL, 1, ["taskset", "-c", "0"])
    servers = list(srv.values())
    client = ["taskset", "-c", "1"]
    if rt:
        client = ["chrt", "-f", "50"] + client
        for s in servers:
            set_fifo(s, True)
    bench.ARGS.pin_client = client
    res = {s.name: [] for s in servers}
    try:
        for s in servers:
            bench.download(s, "/64m.bin", 64 << 20)
        for rnd in range(rounds):
            for s in servers:
                v = statistics.median(bench.download(s, "/64m.bin", 64 << 20)["mibps"] for _ in range(5))
                res[s.name].append(v)
                note(f"  round {rnd + 1} {s.name:<9} {v:8,.0f} MiB/s")
    finally:
        for s in servers:
            set_fifo(s, False)
        fleet.stop(servers)
    return res


def scenario_idle(fleet, rounds, rt, count):
    srv = fleet.launch(ALL, 1, ["taskset", "-c", "0"])
    servers = list(srv.values())
    res = {s.name: [] for s in servers}
    os.sched_setaffinity(0, {1})
    try:
        for rnd in range(rounds):
            for s in servers:
                if rt:
                    set_fifo(s, True)
                    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
                try:
                    r = bench.idle(s, count)
                finally:
                    if rt:
                        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
                        set_fifo(s, False)
                res[s.name].append(r)
                note(f"  round {rnd + 1} {s.name:<9} p50 {r['fresh_p50_ms']:.3f} ms, p99 {r['fresh_p99_ms']:.3f} ms, "
                     f"{r['per_conn']:.0f} bytes/connection")
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        fleet.stop(servers)
    return res


def slowloris(server, count):
    time.sleep(0.3)
    before = server.rss()
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: localhost\r\nX-a: ")
            socks.append(s)
        time.sleep(0.5)
        for s in socks:
            s.sendall(b"b\r\nX-c: d")
        time.sleep(1.0)
        grown = server.rss() - before
    finally:
        for s in socks:
            s.close()
    time.sleep(1.0)
    return grown / count


def scenario_slowloris(fleet, rounds, count):
    srv = fleet.launch(ALL, 1, ["taskset", "-c", "0"])
    servers = list(srv.values())
    res = {s.name: [] for s in servers}
    for rnd in range(rounds):
        for s in servers:
            v = slowloris(s, count)
            res[s.name].append(v)
            note(f"  round {rnd + 1} {s.name:<9} {v:8,.0f} bytes per slowloris connection")
    fleet.stop(servers)
    return res


# --- report --------------------------------------------------------------------------------------


def report(results, meta):
    out = [
        "# Scale: issue 16's scenarios",
        "",
        f"`{meta['command']}` on {meta['date']}, {meta['rounds']} interleaved rounds, medians "
        f"(min–max); load average {', '.join(meta['load'])}; kernel {meta['kernel']}; "
        f"{'real-time priority for d and i' if meta['rt'] else 'no real-time priority'}.",
        "",
    ]
    if "w" in results:
        w = results["w"]
        out += ["## w: every core (wrk -t2 -c64, unpinned)", "", "| server | keep-alive req/s | Connection: close req/s |", "|---|---:|---:|"]
        for name in w["rps"]["ka"]:
            out.append(f"| {name} | {cell(w['rps']['ka'][name])} | {cell(w['rps']['close'][name])} |")
        ka, close = w["rps"]["ka"], w["rps"]["close"]
        m = lambda d, n: med(d[n])[0]  # noqa: E731
        best_ka = max(m(ka, f"{p}-2w") for p in PEERS if f"{p}-2w" in ka)
        best_close = max(m(close, f"{p}-2w") for p in PEERS if f"{p}-2w" in close)
        out += [
            "",
            f"- 2 workers / 1 worker: keep-alive **{m(ka, 'webserv-2w') / m(ka, 'webserv-1w'):.2f}**, "
            f"close **{m(close, 'webserv-2w') / m(close, 'webserv-1w'):.2f}** (target 1.25)",
            f"- 2 workers / best of h2o and lighttpd with 2: keep-alive "
            f"**{m(ka, 'webserv-2w') / max(m(ka, 'h2o-2w'), m(ka, 'lighttpd-2w')):.2f}**, close "
            f"**{m(close, 'webserv-2w') / max(m(close, 'h2o-2w'), m(close, 'lighttpd-2w')):.2f}** (target 1.05); "
            f"best of all three peers: {m(ka, 'webserv-2w') / best_ka:.2f}, {m(close, 'webserv-2w') / best_close:.2f}",
            "- webserv with 2 workers, per round: CPU ticks of each worker during the keep-alive run, and "
            "its connections at mid-run: "
            + "; ".join(f"{s['ticks']} / {s['conns']}" for s in w["spread"]),
            "",
        ]
    if "c" in results:
        c = results["c"]
        out += ["## c: Connection: close, server CPU per request (wrk -t1 -c64, pinned)", "",
                "| server | µs per request | req/s |", "|---|---:|---:|"]
        for name in c["cpu_us"]:
            out.append(f"| {name} | {cell(c['cpu_us'][name], '{:.2f}')} | {cell(c['rps'][name])} |")
        ws = med(c["cpu_us"]["webserv"])[0]
        out += ["", "webserv / peer (lower is better): " + ", ".join(
            f"{p} {ws / med(c['cpu_us'][p])[0]:.2f}" for p in PEERS if p in c["cpu_us"]), ""]
    if "d" in results:
        d = results["d"]
        out += ["## d: one 64 MiB download (curl; median of 5 per round)", "", "| server | MiB/s |", "|---|---:|"]
        for name in d:
            out.append(f"| {name} | {cell(d[name])} |")
        ws = med(d["webserv"])[0]
        out += ["", "webserv / peer: " + ", ".join(f"{p} {ws / med(d[p])[0]:.2f}" for p in PEERS if p in d), ""]
    if "i" in results:
        i = results["i"]
        out += [f"## i: fresh requests while {meta['idle_conns']:,} idle connections are held", "",
                "| server | p50 ms | p99 ms | RSS per idle connection (first round) |", "|---|---:|---:|---:|"]
        for name in i:
            out.append(f"| {name} | {cell([r['fresh_p50_ms'] for r in i[name]], '{:.3f}')} | "
                       f"{cell([r['fresh_p99_ms'] for r in i[name]], '{:.3f}')} | "
                       f"{i[name][0]['per_conn']:,.0f} |")
        p99 = lambda n: med([r["fresh_p99_ms"] for r in i[n]])[0]  # noqa: E731
        out += ["", f"webserv p99 / nginx p99: **{p99('webserv') / p99('nginx'):.2f}** (target at most 1.2)", ""]
    if "s" in results:
        s = results["s"]
        out += [f"## s: {meta['slowloris']:,} slowloris connections, RSS growth per connection", "",
                "The first round is the figure: later rounds find the memory the first one freed "
                "(RSS does not shrink), so they mostly measure 0.", "",
                "| server | bytes per connection, first round | later rounds |", "|---|---:|---:|"]
        for name in s:
            out.append(f"| {name} | {s[name][0]:,.0f} | {cell(s[name][1:]) if len(s[name]) > 1 else '-'} |")
        out.append("")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--webserv", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", default="3s")
    p.add_argument("--only", default="w,c,d,i,s")
    p.add_argument("--rt", action="store_true", help="SCHED_FIFO for d and i (root)")
    p.add_argument("--idle-conns", type=int, default=5000)
    p.add_argument("--slowloris", type=int, default=1000)
    p.add_argument("--out")
    args = p.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = args.out or os.path.join(repo, "bench", "results", "scale.md")
    only = set(args.only.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 2 * args.idle_conns + 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    tmp = tempfile.mkdtemp(prefix="webserv-scale.")
    os.chmod(tmp, 0o755)
    for d in ("logs", "wrk", "www", "www/cgi-bin"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    docroot = os.path.join(tmp, "www")
    shutil.copy(os.path.join(repo, "www/bench/1k.html"), os.path.join(docroot, "1k.html"))
    with open(os.path.join(docroot, "64m.bin"), "wb") as f:
        f.write(os.urandom(64 << 20))
    for root, dirs, files in os.walk(docroot):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    bench.ARGS = argparse.Namespace(webserv=args.webserv, ceiling="", repo=repo, tmp=tmp, pin_client=[],
                                    fresh_requests=200)
    fleet = Fleet(tmp, docroot)
    results = {}
    load = [open("/proc/loadavg").read().split()[0]]
    try:
        if "w" in only:
            note("w: 2 workers against 1")
            results["w"] = scenario_workers(fleet, args.rounds, args.duration)
            load.append(open("/proc/loadavg").read().split()[0])
        if "c" in only:
            note("c: Connection: close, server CPU per request")
            results["c"] = scenario_close_cpu(fleet, args.rounds, args.duration)
            load.append(open("/proc/loadavg").read().split()[0])
        if "d" in only:
            note("d: 64 MiB download")
            results["d"] = scenario_download(fleet, args.rounds, args.rt)
        if "i" in only:
            note(f"i: fresh requests with {args.idle_conns} idle connections")
            results["i"] = scenario_idle(fleet, args.rounds, args.rt, args.idle_conns)
        if "s" in only:
            note(f"s: {args.slowloris} slowloris connections")
            results["s"] = scenario_slowloris(fleet, args.rounds, args.slowloris)
        load.append(open("/proc/loadavg").read().split()[0])
    finally:
        for s in fleet.started:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    meta = {
        "command": "bench/scale.py " + " ".join(sys.argv[1:]).replace(args.webserv, "WEBSERV"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": args.rounds,
        "load": load,
        "kernel": os.uname().release,
        "rt": args.rt,
        "idle_conns": args.idle_conns,
        "slowloris": args.slowloris,
    }
    md = report(results, meta)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
