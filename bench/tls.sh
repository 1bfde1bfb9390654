#!/usr/bin/env bash
# bench/tls.sh: HTTPS of webserv against nginx, with the same certificates, on this machine.
#
# For each key type (ECDSA P-256, RSA 2048) both servers serve the same files over TLS on free
# ports of 127.0.0.1 (one worker each, access logs off, session resumption on), and are measured
# in turn (webserv, nginx, webserv, ...) for ROUNDS rounds:
#   keepalive   1 KiB file, `wrk -t1 -c64` over keep-alive connections (req/s)
#   resumed     1 KiB file with `Connection: close`, `wrk -t1 -c16`: a new TCP connection and TLS
#               handshake per request, which wrk resumes (it keeps its session: RSA and ECDSA cost
#               the same), so this is the cost of a resumed handshake (connections/s)
#   full        `openssl s_time -new`: full handshakes (certificate signature, key exchange),
#               one at a time, with a 1 KiB GET each (connections/s; client-bound, see the CPU)
#   download    one 64 MiB file with curl (MiB/s)
# and the medians are printed as a markdown table (also written to RESULTS). Beside each rate,
# the server's own CPU time per unit (user + system, from /proc, nginx's workers included) is
# reported: on a shared, loaded machine rates swing with the neighbours while the CPU cost of a
# request, a handshake or a MiB moves much less. See bench/TLS.md.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5s]  KEYS [ec rsa]  PIN [auto: wrk/curl on CPU 0, servers on the others]
#   WEBSERV [target/release/webserv]  BUILD [1]  KEEP_TMP [0]
#   RESULTS [bench/results/tls-latest.md]

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
KEYS=${KEYS:-ec rsa}
PIN=${PIN:-auto}
WEBSERV=${WEBSERV:-$repo/target/release/webserv}
BUILD=${BUILD:-1}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS=${RESULTS:-$here/results/tls-latest.md}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] || die "DURATION must be whole seconds like 5s, not '$DURATION'"
hz=$(getconf CLK_TCK)
for k in $KEYS; do case $k in ec | rsa) ;; *) die "unknown key type '$k' in KEYS (ec, rsa)" ;; esac; done
PATH=$PATH:/usr/sbin:/sbin
for cmd in wrk curl python3 nginx openssl; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found (apt-get install -y nginx wrk curl python3 openssl)"
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/webserv-tls-bench.XXXXXX")
chmod 755 "$tmp"
pids=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_all
    if [[ $KEEP_TMP == 1 ]]; then note "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$status"
}
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
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

docroot=$tmp/www
mkdir -p "$docroot" "$tmp/logs" "$tmp/nginx-temp" "$tmp/wrk"
cp "$repo/www/bench/1k.html" "$docroot/1k.html"
head -c $((64 << 20)) /dev/urandom >"$docroot/64m.bin"
chmod 755 "$docroot"
chmod 644 "$docroot"/*

# The certificates both servers use.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$tmp/ec.key" -out "$tmp/ec.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$tmp/rsa.key" -out "$tmp/rsa.pem" 2>/dev/null
chmod 644 "$tmp"/*.key

free_ports() {
    python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
'
}

start() {
    local name=$1
    shift
    "${pin_server[@]}" "$@" >"$tmp/logs/$name.out" 2>&1 &
    pids+=("$!")
}

# Waits until https://localhost:PORT/1k.html answers 200 with 1024 bytes.
wait_up() {
    local name=$1 port=$2 key=$3 i got
    for ((i = 0; i < 100; i++)); do
        got=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' --max-time 5 \
            --cacert "$tmp/$key.pem" --resolve "localhost:$port:127.0.0.1" \
            "https://localhost:$port/1k.html" 2>/dev/null) || got=
        [[ $got == "200 1024" ]] && return 0
        sleep 0.1
    done
    die "$name does not serve https://localhost:$port/1k.html (got '${got:-nothing}'): $(tail -n 5 "$tmp/logs/$name.out")"
}

# CPU ticks (user + system) used so far by process $1 and its children (nginx's workers).
cpu_ticks() {
    local root=$1 total=0 p line
    for p in "$root" $(pgrep -P "$root" || true); do
        line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        # The command name may hold spaces: count fields after its closing paren.
        line=${line##*) }
        read -r -a f <<<"$line"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

wrk_rps() {
    local out=$1
    shift
    "${pin_client[@]}" wrk "$@" >"$out" 2>&1 || die "wrk failed: $(tail -n 3 "$out")"
    awk '/^Requests\/sec:/ { print $2; found = 1 } END { if (!found) exit 1 }' "$out" ||
        die "no Requests/sec in $out"
}

# Full handshakes in DURATION, one after the other (openssl s_time -new); prints their count.
full_handshakes() {
    local port=$1
    "${pin_client[@]}" openssl s_time -connect "127.0.0.1:$port" -new -time "${DURATION%s}" \
        -www /1k.html 2>&1 | awk '/connections in [0-9]+ real seconds/ { print $1; found = 1; exit }
        END { if (!found) print 0 }'
}

download_mibs() {
    local port=$1 key=$2
    "${pin_client[@]}" curl -sS -o /dev/null -w '%{speed_download}\n' --max-time 60 \
        --cacert "$tmp/$key.pem" --resolve "localhost:$port:127.0.0.1" \
        "https://localhost:$port/64m.bin" | awk '{ printf "%.1f\n", $1 / 1048576 }'
}

results=$tmp/results.tsv
: >"$results"
for key in $KEYS; do
    read -r wport nport < <(free_ports)
    cat >"$tmp/webserv-$key.conf" <<EOF
workers 1;
access_log off;
error_log $tmp/logs/webserv-error.log;
server {
    listen 127.0.0.1:$wport ssl;
    ssl_certificate $tmp/$key.pem;
    ssl_certificate_key $tmp/$key.key;
    root $docroot;
}
EOF
    cat >"$tmp/nginx-$key.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    types { text/html html; application/octet-stream bin; }
    client_body_temp_path $tmp/nginx-temp/body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    # The cipher order webserv uses (AES-128-GCM first, server's choice), so that both servers
    # negotiate the same suite.
    ssl_prefer_server_ciphers on;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:$nport ssl;
        ssl_certificate $tmp/$key.pem;
        ssl_certificate_key $tmp/$key.key;
        root $docroot;
    }
}
EOF
    "$WEBSERV" -t "$tmp/webserv-$key.conf" >/dev/null 2>&1 || die "webserv rejects its configuration"
    nginx -t -e "$tmp/logs/nginx-error.log" -p "$tmp" -c "$tmp/nginx-$key.conf" >/dev/null 2>&1 ||
        die "nginx rejects its configuration"
    start webserv "$WEBSERV" "$tmp/webserv-$key.conf"
    start nginx nginx -e "$tmp/logs/nginx-error.log" -p "$tmp" -c "$tmp/nginx-$key.conf" -g 'daemon off;'
    declare -A pid_of=([webserv]=${pids[0]} [nginx]=${pids[1]})
    wait_up webserv "$wport" "$key"
    wait_up nginx "$nport" "$key"
    for server in webserv nginx; do
        p=$([[ $server == webserv ]] && echo "$wport" || echo "$nport")
        suite=$(curl -sv -o /dev/null --cacert "$tmp/$key.pem" --resolve "localhost:$p:127.0.0.1" \
            "https://localhost:$p/1k.html" 2>&1 | sed -n 's/.*SSL connection using //p')
        note "$server ($key) negotiates $suite with curl"
    done
    declare -A port_of=([webserv]=$wport [nginx]=$nport)
    for server in webserv nginx; do
        wrk_rps "$tmp/wrk/warmup" -t1 -c64 -d1s "https://127.0.0.1:${port_of[$server]}/1k.html" >/dev/null
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for server in webserv nginx; do
            url="https://127.0.0.1:${port_of[$server]}/1k.html"
            pid=${pid_of[$server]}
            t0=$(cpu_ticks "$pid")
            ka=$(wrk_rps "$tmp/wrk/$key-$server-ka-$round" -t1 -c64 -d"$DURATION" "$url")
            t1=$(cpu_ticks "$pid")
            hs=$(wrk_rps "$tmp/wrk/$key-$server-hs-$round" -t1 -c16 -d"$DURATION" \
                -H 'Connection: close' "$url")
            t2=$(cpu_ticks "$pid")
            dl=$(download_mibs "${port_of[$server]}" "$key")
            t3=$(cpu_ticks "$pid")
            full=$(full_handshakes "${port_of[$server]}")
            t4=$(cpu_ticks "$pid")
            # wrk's counts: Requests/sec x duration (close enough for a per-unit cost).
            secs=${DURATION%s}
            ka_us=$(python3 -c "print(round(($t1 - $t0) * 1e6 / $hz / ($ka * $secs), 1))")
            hs_us=$(python3 -c "print(round(($t2 - $t1) * 1e6 / $hz / max($hs * $secs, 1), 1))")
            dl_ms=$(python3 -c "print(round(($t3 - $t2) * 1e3 / $hz / 64, 2))")
            full_rate=$(python3 -c "print(round($full / $secs, 1))")
            full_us=$(python3 -c "print(round(($t4 - $t3) * 1e6 / $hz / max($full, 1), 1))")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$server" "$ka" "$hs" \
                "$dl" "$full_rate" "$ka_us" "$hs_us" "$dl_ms" "$full_us" >>"$results"
            note "$key round $round $server: keep-alive $ka req/s (${ka_us} us CPU each)," \
                "resumed $hs conn/s (${hs_us} us), full $full_rate conn/s (${full_us} us)," \
                "64 MiB $dl MiB/s (${dl_ms} ms CPU per MiB)"
        done
    done
    stop_all
done

mkdir -p "$(dirname "$RESULTS")"
ROUNDS=$ROUNDS DURATION=$DURATION NGINX="$(nginx -v 2>&1 | sed 's/^nginx version: //')" \
    COMMIT="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    python3 - "$results" "$RESULTS" <<'EOF'
import os, sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs = {}
for key, server, *values in rows:
    r = runs.setdefault((key, server), tuple([] for _ in values))
    for column, v in zip(r, values):
        column.append(float(v))
names = {"ec": "ECDSA P-256", "rsa": "RSA 2048"}
what = [("keep-alive 1 KiB, req/s", 0, "{:,.0f}"),
        ("resumed handshake + 1 KiB (wrk), conn/s", 1, "{:,.0f}"),
        ("full handshake + 1 KiB (s_time -new), conn/s", 3, "{:,.0f}"),
        ("64 MiB download, MiB/s", 2, "{:,.0f}"),
        ("server CPU per keep-alive request, us", 4, "{:,.1f}"),
        ("server CPU per resumed handshake + request, us", 5, "{:,.0f}"),
        ("server CPU per full handshake + request, us", 7, "{:,.0f}"),
        ("server CPU per MiB downloaded, ms", 6, "{:,.2f}")]
out = [f"webserv {os.environ['COMMIT']} vs {os.environ['NGINX']}; median of "
       f"{os.environ['ROUNDS']} interleaved rounds ({os.environ['DURATION']} wrk runs, one curl download each).",
       "", "| key | measure | webserv | nginx | webserv/nginx |", "|---|---|---:|---:|---:|"]
for key in [k for k in names if (k, "webserv") in runs]:
    for label, i, fmt in what:
        w = statistics.median(runs[(key, "webserv")][i])
        n = statistics.median(runs[(key, "nginx")][i])
        out.append(f"| {names[key]} | {label} | {fmt.format(w)} | {fmt.format(n)} | {w / n:.2f} |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
EOF
