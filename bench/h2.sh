#!/usr/bin/env bash
# bench/h2.sh: HTTP/2 over TLS of webserv against h2o and nginx, same certificate and cipher.
#
# The three servers serve the same files over TLS with ALPN h2 on free ports of 127.0.0.1 (one
# worker each, access logs off, an ECDSA P-256 certificate, AES-128-GCM), and are measured in
# turn (webserv, h2o, nginx, webserv, ...) for ROUNDS rounds:
#   m10       1 KiB file, `h2load -c 64 -m 10` for DURATION (req/s)
#   m1        1 KiB file, `h2load -c 64 -m 1` (req/s)
#   page      100 different small files on one connection, all at once (`h2load -c 1 -m 100
#             -n 100`, repeated PAGES times; the median page time, ms)
#   download  one 64 MiB file (`h2load -c 1 -n 1`, MiB/s)
# and once, after the rounds: the RSS each idle HTTP/2 connection costs (IDLE connections
# opened, preface and SETTINGS exchanged, then left idle; the servers' resident memory before
# and after, nginx's workers included). Beside each rate, the server's own CPU time per unit
# (user + system from /proc): on a shared, loaded machine rates swing with the neighbours while
# the CPU cost of a request moves much less. Medians of the rounds, min-max beside them; the
# markdown table is printed and written to RESULTS.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5]  PAGES [20]  IDLE [500]  PIN [auto: clients on CPU 0, servers on
#   the others]  WEBSERV [target/release/webserv]  BUILD [1]  KEEP_TMP [0]
#   RESULTS [bench/results/h2-latest.md]

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
PAGES=${PAGES:-20}
IDLE=${IDLE:-500}
PIN=${PIN:-auto}
WEBSERV=${WEBSERV:-${CARGO_TARGET_DIR:-$repo/target}/release/webserv}
BUILD=${BUILD:-1}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS=${RESULTS:-$here/results/h2-latest.md}
SERVERS=(webserv h2o nginx)

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be whole seconds, not '$DURATION'"
hz=$(getconf CLK_TCK)
PATH=$PATH:/usr/sbin:/sbin
for cmd in h2load curl python3 nginx h2o openssl; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found (apt-get install -y nghttp2-client nginx h2o curl openssl)"
done
if [[ $BUILD == 1 ]]; then
    note "building webserv (cargo build --release)"
    (cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
fi
[[ -x $WEBSERV ]] || die "no webserv binary at $WEBSERV"

ncpu=$(nproc)
if [[ $PIN == auto ]]; then
    if ((ncpu > 1)) && command -v taskset >/dev/null; then PIN=1; else PIN=0; fi
fi
if [[ $PIN == 1 ]]; then
    pin_server=(taskset -c "1-$((ncpu - 1))")
    pin_client=(taskset -c 0)
else
    pin_server=()
    pin_client=()
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/webserv-h2-bench.XXXXXX")
chmod 755 "$tmp"
pids=()
stop_all() {
    local pid n
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        n=0
        while kill -0 "$pid" 2>/dev/null && ((n < 50)); do sleep 0.1; n=$((n + 1)); done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_all
    if [[ $KEEP_TMP == 1 ]]; then note "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

docroot=$tmp/www
mkdir -p "$docroot/page" "$tmp/logs" "$tmp/nginx-temp" "$tmp/out"
cp "$repo/www/bench/1k.html" "$docroot/1k.html"
head -c $((64 << 20)) /dev/urandom >"$docroot/64m.bin"
for i in $(seq 1 100); do head -c $((1000 + i * 37)) /dev/urandom >"$docroot/page/$i.bin"; done
for i in $(seq 1 100); do echo "https://localhost:PORT/page/$i.bin"; done >"$tmp/page-urls"
chmod -R a+rX "$docroot"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$tmp/ec.key" -out "$tmp/ec.pem" 2>/dev/null
chmod 644 "$tmp/ec.key"

read -r wport hport nport < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
declare -A port_of=([webserv]=$wport [h2o]=$hport [nginx]=$nport)

cat >"$tmp/webserv.conf" <<EOF
workers 1;
access_log off;
error_log $tmp/logs/webserv-error.log;
server {
    listen 127.0.0.1:$wport ssl;
    ssl_certificate $tmp/ec.pem;
    ssl_certificate_key $tmp/ec.key;
    root $docroot;
    keepalive_timeout 300s;
}
EOF
# h2o 2.2: no access-log directive, hence no access log; the same cipher order.
cat >"$tmp/h2o.conf" <<EOF
num-threads: 1
max-connections: 100000
http2-idle-timeout: 300
error-log: $tmp/logs/h2o-error.log
listen:
  host: 127.0.0.1
  port: $hport
  ssl:
    certificate-file: $tmp/ec.pem
    key-file: $tmp/ec.key
    cipher-preference: server
    cipher-suite: ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305
hosts:
  "localhost":
    paths:
      /:
        file.dir: $docroot
        file.send-compressed: OFF
EOF
# nginx 1.22: `listen ... http2` (the `http2` directive is 1.25's).
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/nginx-error.log warn;
events { worker_connections 100000; }
worker_rlimit_nofile 200000;
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    # Since 1.19.7 keepalive_requests (default 1000) also ends an HTTP/2 connection.
    keepalive_requests 100000000;
    http2_idle_timeout 300s;
    types { text/html html; application/octet-stream bin; }
    client_body_temp_path $tmp/nginx-temp/body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_session_cache shared:SSL:10m;
    server {
        listen 127.0.0.1:$nport ssl http2;
        ssl_certificate $tmp/ec.pem;
        ssl_certificate_key $tmp/ec.key;
        root $docroot;
    }
}
EOF

"$WEBSERV" -t "$tmp/webserv.conf" >/dev/null 2>&1 || die "webserv rejects its configuration"
nginx -t -e "$tmp/logs/nginx-error.log" -p "$tmp" -c "$tmp/nginx.conf" >/dev/null 2>&1 ||
    die "nginx rejects its configuration: $(tail -n 3 "$tmp/logs/nginx-error.log")"
ulimit -n 65536 2>/dev/null || true
start() {
    local name=$1
    shift
    "${pin_server[@]}" "$@" >"$tmp/logs/$name.out" 2>&1 &
    pids+=("$!")
}
start webserv "$WEBSERV" "$tmp/webserv.conf"
start h2o h2o -c "$tmp/h2o.conf"
start nginx nginx -e "$tmp/logs/nginx-error.log" -p "$tmp" -c "$tmp/nginx.conf" -g 'daemon off;'
declare -A pid_of=([webserv]=${pids[0]} [h2o]=${pids[1]} [nginx]=${pids[2]})

for server in "${SERVERS[@]}"; do
    port=${port_of[$server]}
    for ((i = 0; i < 100; i++)); do
        got=$(curl -sS --http2 -o /dev/null -w '%{http_version} %{http_code} %{size_download}' \
            --max-time 5 --cacert "$tmp/ec.pem" --resolve "localhost:$port:127.0.0.1" \
            "https://localhost:$port/1k.html" 2>/dev/null) || got=
        [[ $got == "2 200 1024" ]] && break
        sleep 0.1
    done
    [[ $got == "2 200 1024" ]] || die "$server does not serve 1k.html over h2 (got '${got:-nothing}')"
    suite=$(curl -sv --http2 --tls13-ciphers TLS_AES_128_GCM_SHA256 -o /dev/null --cacert "$tmp/ec.pem" --resolve "localhost:$port:127.0.0.1" \
        "https://localhost:$port/1k.html" 2>&1 | sed -n 's/.*SSL connection using //p')
    note "$server: h2 over $suite"
done

# CPU ticks (user + system) used so far by process $1 and its children (nginx's worker).
cpu_ticks() {
    local root=$1 total=0 p line
    for p in "$root" $(pgrep -P "$root" || true); do
        line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        line=${line##*) }
        read -r -a f <<<"$line"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# Resident KiB of process $1 and its children.
rss_kib() {
    local root=$1 total=0 p v
    for p in "$root" $(pgrep -P "$root" || true); do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# h2load's "finished in Xs, R req/s" and its success count; dies on failures.
h2load_run() {
    local out=$1
    shift
    "${pin_client[@]}" h2load --tls13-ciphers=TLS_AES_128_GCM_SHA256 "$@" >"$out" 2>&1 || die "h2load failed: $(tail -n 3 "$out")"
    grep -q ' 0 failed, 0 errored' "$out" || die "h2load saw failures: $(grep requests: "$out")"
}
rps_of() { awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$1"; }
# h2load's "finished in" time, in seconds (it writes s, ms or us).
secs_of() {
    python3 -c '
import re, sys
m = re.search(r"^finished in ([0-9.]+)(us|ms|s),", open(sys.argv[1]).read(), re.M)
print(float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)])
' "$1"
}
done_of() { awk '/^requests:/ { print $8 }' "$1"; }

results=$tmp/results.tsv
: >"$results"
for server in "${SERVERS[@]}"; do
    h2load_run "$tmp/out/warmup" -c 64 -m 10 -D 1 "https://127.0.0.1:${port_of[$server]}/1k.html"
done
for ((round = 1; round <= ROUNDS; round++)); do
    for server in "${SERVERS[@]}"; do
        port=${port_of[$server]}
        pid=${pid_of[$server]}
        url="https://127.0.0.1:$port/1k.html"
        t0=$(cpu_ticks "$pid")
        h2load_run "$tmp/out/m10" -c 64 -m 10 -D "$DURATION" "$url"
        t1=$(cpu_ticks "$pid")
        h2load_run "$tmp/out/m1" -c 64 -m 1 -D "$DURATION" "$url"
        t2=$(cpu_ticks "$pid")
        m10=$(rps_of "$tmp/out/m10") n10=$(done_of "$tmp/out/m10")
        m1=$(rps_of "$tmp/out/m1") n1=$(done_of "$tmp/out/m1")
        sed "s/PORT/$port/" "$tmp/page-urls" | sed "s/localhost/127.0.0.1/" >"$tmp/urls-$server"
        pages=()
        for ((p = 0; p < PAGES; p++)); do
            h2load_run "$tmp/out/page" -c 1 -m 100 -n 100 -i "$tmp/urls-$server"
            pages+=("$(secs_of "$tmp/out/page")")
        done
        page=$(printf '%s\n' "${pages[@]}" | python3 -c 'import sys, statistics; print(round(statistics.median(float(l) for l in sys.stdin) * 1e3, 2))')
        t3=$(cpu_ticks "$pid")
        h2load_run "$tmp/out/dl" -c 1 -n 1 "https://127.0.0.1:$port/64m.bin"
        t4=$(cpu_ticks "$pid")
        dl=$(python3 -c "print(round(64 / $(secs_of "$tmp/out/dl"), 1))")
        cpu10=$(python3 -c "print(round(($t1 - $t0) * 1e6 / $hz / max($n10, 1), 2))")
        cpu1=$(python3 -c "print(round(($t2 - $t1) * 1e6 / $hz / max($n1, 1), 2))")
        cpudl=$(python3 -c "print(round(($t4 - $t3) * 1e3 / $hz / 64, 2))")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$m10" "$m1" "$page" "$dl" \
            "$cpu10" "$cpu1" "$cpudl" >>"$results"
        note "round $round $server: m10 $m10 req/s (${cpu10} us CPU each), m1 $m1 req/s (${cpu1} us)," \
            "page of 100 files $page (ms), 64 MiB $dl MiB/s (${cpudl} ms CPU per MiB)"
    done
done

# RSS per idle HTTP/2 connection.
idle_script=$tmp/idle.py
cat >"$idle_script" <<'EOF'
import socket, ssl, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
conns = []
for _ in range(count):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2"
    # The preface and an empty SETTINGS; the server's SETTINGS read, then idle.
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    s.recv(4096)
    s.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
    conns.append(s)
print("ready", flush=True)
sys.stdin.readline()
EOF
declare -A idle_kib
for server in "${SERVERS[@]}"; do
    pid=${pid_of[$server]}
    before=$(rss_kib "$pid")
    coproc IDLER { python3 "$idle_script" "${port_of[$server]}" "$IDLE"; }
    read -r ready <&"${IDLER[0]}" || die "idle connections to $server failed"
    sleep 1
    after=$(rss_kib "$pid")
    echo done >&"${IDLER[1]}"
    wait "$IDLER_PID" 2>/dev/null || true
    idle_kib[$server]=$(python3 -c "print(round(($after - $before) / $IDLE, 1))")
    note "$server: RSS $before KiB -> $after KiB with $IDLE idle h2 connections"
    sleep 1
done
printf 'idle\t%s\t%s\t%s\n' "${idle_kib[webserv]}" "${idle_kib[h2o]}" "${idle_kib[nginx]}" >>"$results"
stop_all

mkdir -p "$(dirname "$RESULTS")"
ROUNDS=$ROUNDS DURATION=$DURATION PAGES=$PAGES IDLE=$IDLE \
    NGINX="$(nginx -v 2>&1 | sed 's/^nginx version: //')" \
    H2O="$(h2o --version | head -n 1 | sed 's/ version /\//')" \
    COMMIT="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    python3 - "$results" "$RESULTS" <<'EOF'
import os, sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs, idle = {}, None
for server, *values in rows:
    if server == "idle":
        idle = [float(v) for v in values]
        continue
    r = runs.setdefault(server, tuple([] for _ in values))
    for column, v in zip(r, values):
        column.append(float(v))
what = [("h2load -c 64 -m 10, 1 KiB, req/s", 0, "{:,.0f}", True),
        ("h2load -c 64 -m 1, 1 KiB, req/s", 1, "{:,.0f}", True),
        ("100 files on one connection, page time ms", 2, "{:,.1f}", False),
        ("64 MiB download, MiB/s", 3, "{:,.0f}", True),
        ("server CPU per request (-m 10), us", 4, "{:,.2f}", False),
        ("server CPU per request (-m 1), us", 5, "{:,.2f}", False),
        ("server CPU per MiB downloaded, ms", 6, "{:,.2f}", False)]
def cell(values, fmt):
    m = statistics.median(values)
    return f"{fmt.format(m)} ({fmt.format(min(values))}-{fmt.format(max(values))})"
out = [f"webserv {os.environ['COMMIT']} vs {os.environ['H2O']} and {os.environ['NGINX']}; HTTP/2 over "
       f"TLS 1.3 (AES-128-GCM, ECDSA P-256), one worker each; median (min-max) of "
       f"{os.environ['ROUNDS']} interleaved rounds of {os.environ['DURATION']} s h2load runs "
       f"({os.environ['PAGES']} page loads per round). Shared 2-core machine: rates are noisy, CPU per request less so.",
       "", "| measure | webserv | h2o | nginx | webserv/h2o | webserv/nginx |",
       "|---|---:|---:|---:|---:|---:|"]
for label, i, fmt, higher_better in what:
    w, h, n = (runs[s][i] for s in ("webserv", "h2o", "nginx"))
    mw, mh, mn = statistics.median(w), statistics.median(h), statistics.median(n)
    out.append(f"| {label} | {cell(w, fmt)} | {cell(h, fmt)} | {cell(n, fmt)} | "
               f"{mw / mh:.2f} | {mw / mn:.2f} |")
if idle:
    w, h, n = idle
    out.append(f"| RSS per idle HTTP/2 connection ({os.environ['IDLE']} open), KiB | {w:.1f} | {h:.1f} | {n:.1f} | "
               f"{w / h if h else float('nan'):.2f} | {w / n if n else float('nan'):.2f} |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
EOF
