#!/usr/bin/env bash
# bench/cgi.sh: CGI cost of webserv, on this machine. See bench/CGI.md for what it measures and
# the figures it gave.
#
# 1. Requests/second of a tiny CGI script (/bin/sh printing a header and "hello"), webserv
#    against lighttpd's mod_cgi: wrk against each in turn (webserv, lighttpd, webserv, ...) for
#    ROUNDS rounds; prints the median of each and the ratio.
# 2. Peak memory while streaming STREAM_BYTES of script output (1 GiB of zeros from
#    `head -c`) to a rate-limited client (curl --limit-rate RATE): VmHWM of a fresh webserv (and,
#    for reference, of a fresh lighttpd with server.stream-response-body = 2), and the time.
#
# Environment (defaults in brackets):
#   ROUNDS [3]               measured wrk runs per server; 0 skips part 1
#   DURATION [5s]            length of each run (wrk -d)
#   CONNS [16]               open connections (wrk -c)
#   THREADS [1]              wrk threads (wrk -t)
#   WARMUP [1s]              an unmeasured wrk run per server first; 0 to skip
#   STREAM_BYTES [1073741824]  size of the streamed output; 0 skips part 2
#   RATE [200M]              curl --limit-rate for the streaming client (0: no limit)
#   STREAM_SERVERS [webserv lighttpd]  servers measured in part 2
#   PIN [auto]               1: wrk/curl on CPU 0, servers (and their scripts) on the others;
#                            auto: when there are 2 CPUs or more; 0: no pinning
#   WEBSERV [$CARGO_TARGET_DIR/release/webserv, else target/release/webserv]
#   BUILD [1]                0: do not run `cargo build --release` first
#   KEEP_TMP [0]             1: keep the temporary directory (configs, logs, wrk output)

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-1s}
STREAM_BYTES=${STREAM_BYTES:-1073741824}
RATE=${RATE:-200M}
STREAM_SERVERS=${STREAM_SERVERS:-webserv lighttpd}
PIN=${PIN:-auto}
WEBSERV=${WEBSERV:-${CARGO_TARGET_DIR:-$repo/target}/release/webserv}
BUILD=${BUILD:-1}
KEEP_TMP=${KEEP_TMP:-0}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

[[ $ROUNDS =~ ^[0-9]+$ ]] || die "ROUNDS must be a number (0 skips part 1), not '$ROUNDS'"
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer, not '$CONNS'"
[[ $STREAM_BYTES =~ ^[0-9]+$ ]] || die "STREAM_BYTES must be a number of bytes, not '$STREAM_BYTES'"

PATH=$PATH:/usr/sbin:/sbin
for cmd in wrk curl python3 lighttpd; do
    command -v "$cmd" >/dev/null ||
        die "'$cmd' not found (Debian/Ubuntu: apt-get install -y lighttpd wrk curl python3)"
done
if [[ $BUILD == 1 ]]; then
    note "building webserv (cargo build --release)"
    (cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
fi
[[ -x $WEBSERV ]] || die "no webserv binary at $WEBSERV"

ncpu=$(nproc)
if [[ $PIN == auto ]]; then
    if ((ncpu >= 2)) && command -v taskset >/dev/null; then PIN=1; else PIN=0; fi
fi
if [[ $PIN == 1 ]]; then
    pin_server=(taskset -c "1-$((ncpu - 1))")
    pin_client=(taskset -c 0)
else
    pin_server=()
    pin_client=()
fi

# --- temporary site ---------------------------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/webserv-cgi-bench.XXXXXX")
# lighttpd started as root runs (and runs its scripts) as www-data: it must be able to read.
chmod 755 "$tmp"

pids=()
names=()
stop() {
    # Stops the server at index $1: SIGTERM, up to 5 s, then SIGKILL.
    local i=$1 n=0
    [[ -n ${pids[$i]:-} ]] || return 0
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    while kill -0 "${pids[$i]}" 2>/dev/null && ((n < 50)); do
        sleep 0.1
        n=$((n + 1))
    done
    kill -KILL "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
    pids[$i]=
}
cleanup() {
    local status=$? i
    trap - EXIT INT TERM
    for i in "${!pids[@]}"; do stop "$i"; done
    if [[ $KEEP_TMP == 1 ]]; then note "kept $tmp"; else rm -rf "$tmp"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

www=$tmp/www
mkdir -p "$www/cgi-bin" "$tmp/logs" "$tmp/wrk" "$tmp/lighttpd-tmp"
# lighttpd keeps some of a response in temporary files, as www-data when started as root.
chmod 1777 "$tmp/lighttpd-tmp"
printf '#!/bin/sh\nprintf '"'"'Content-Type: text/plain\\r\\n\\r\\nhello\\n'"'"'\n' >"$www/cgi-bin/hello.sh"
printf '#!/bin/sh\nprintf '"'"'Content-Type: application/octet-stream\\r\\n\\r\\n'"'"'\nexec head -c %s /dev/zero\n' \
    "$STREAM_BYTES" >"$www/cgi-bin/big.sh"
chmod 755 "$www" "$www/cgi-bin" "$www/cgi-bin"/*.sh

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_configs() {
    # $1: webserv port, $2: lighttpd port
    cat >"$tmp/webserv.conf" <<EOF
workers 1;
access_log off;
error_log $tmp/logs/webserv-error.log;
server {
    listen 127.0.0.1:$1;
    root $www;
    location /cgi-bin {
        cgi .sh /bin/sh;
        cgi_timeout 60s;
    }
}
EOF
    {
        cat <<EOF
server.modules += ( "mod_cgi" )
server.document-root = "$www"
server.bind = "127.0.0.1"
server.port = $2
server.upload-dirs = ( "$tmp/lighttpd-tmp" )
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 75
# Stream script output to the client with backpressure, as webserv does (the default, 0,
# buffers the whole response, in temporary files past 64 KiB).
server.stream-response-body = 2
cgi.assign = ( ".sh" => "/bin/sh" )
EOF
        if ((EUID == 0)); then
            # lighttpd refuses to keep root privileges; any unprivileged account will do.
            if id -u www-data >/dev/null 2>&1; then
                echo 'server.username = "www-data"'
                echo 'server.groupname = "www-data"'
            else
                echo 'server.username = "nobody"'
            fi
        fi
    } >"$tmp/lighttpd.conf"
}

declare -A port=() index=()
start() {
    local name=$1
    case $name in
    webserv) "${pin_server[@]}" "$WEBSERV" "$tmp/webserv.conf" >"$tmp/logs/$name.out" 2>&1 & ;;
    lighttpd) "${pin_server[@]}" lighttpd -D -f "$tmp/lighttpd.conf" >"$tmp/logs/$name.out" 2>&1 & ;;
    esac
    local pid=$!
    pids+=("$pid")
    names+=("$name")
    index[$name]=$((${#pids[@]} - 1))
    # Up before anything is measured: hello.sh answers 200 "hello".
    local i got
    for ((i = 0; i < 50; i++)); do
        got=$(curl -sS --max-time 5 -w ' %{http_code}' "http://127.0.0.1:${port[$name]}/cgi-bin/hello.sh" 2>/dev/null) || got=
        [[ $got == $'hello\n 200' ]] && return 0
        kill -0 "$pid" 2>/dev/null || die "$name exited at startup: $(tail -n 5 "$tmp/logs/$name.out")"
        sleep 0.1
    done
    die "$name does not run hello.sh (got '${got:-no answer}')"
}
pid_of() { echo "${pids[${index[$1]}]}"; }
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# User + system CPU time of a process so far, in clock ticks (the name has no spaces here).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

port[webserv]=$(free_port)
port[lighttpd]=$(free_port)
write_configs "${port[webserv]}" "${port[lighttpd]}"
"$WEBSERV" -t "$tmp/webserv.conf" >/dev/null 2>&1 || die "webserv rejects $tmp/webserv.conf"
lighttpd -tt -f "$tmp/lighttpd.conf" >"$tmp/logs/lighttpd-t.out" 2>&1 ||
    die "lighttpd rejects its configuration: $(cat "$tmp/logs/lighttpd-t.out")"
v_lighttpd=$(lighttpd -v 2>&1 | head -n 1 | sed 's/ - .*//')
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
note "webserv $commit, $v_lighttpd, $(uname -sr), $ncpu CPU(s)$([[ $PIN == 1 ]] && echo ", client on CPU 0, servers on 1-$((ncpu - 1))")"

# --- 1. requests/second -----------------------------------------------------------------------------

run_wrk() {
    # Prints "REQS_PER_SEC NON2XX SOCKET_ERRORS".
    local name=$1 duration=$2 out=$3
    "${pin_client[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$duration" \
        "http://127.0.0.1:${port[$name]}/cgi-bin/hello.sh" >"$out" 2>&1 ||
        die "wrk failed against $name: $(tail -n 3 "$out")"
    awk '
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
        END { if (rps == "") exit 1; printf "%s %d %d\n", rps, non2xx, errors }' "$out" ||
        die "no Requests/sec in $out"
}

if ((ROUNDS > 0)); then
    start webserv
    start lighttpd
    if [[ $WARMUP != 0 ]]; then
        for s in webserv lighttpd; do run_wrk "$s" "$WARMUP" "$tmp/wrk/warmup-$s.txt" >/dev/null; done
    fi
    declare -A runs=()
    for ((round = 1; round <= ROUNDS; round++)); do
        for s in webserv lighttpd; do
            stats=$(run_wrk "$s" "$DURATION" "$tmp/wrk/$s-$round.txt")
            read -r rps non2xx errors <<<"$stats"
            runs[$s]+="$rps "
            printf 'bench: round %d  %-8s %8.0f req/s%s\n' "$round" "$s" "$rps" \
                "$( ((non2xx + errors > 0)) && echo "  ($non2xx non-2xx, $errors socket errors)")" >&2
        done
    done
    for s in webserv lighttpd; do stop "${index[$s]}"; done
    median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    m_webserv=$(median <<<"${runs[webserv]}")
    m_lighttpd=$(median <<<"${runs[lighttpd]}")
    echo
    echo "CGI hello, wrk -t$THREADS -c$CONNS -d$DURATION, median of $ROUNDS"
    printf '  webserv           %8.0f req/s   (runs: %s)\n' "$m_webserv" "${runs[webserv]% }"
    printf '  lighttpd mod_cgi  %8.0f req/s   (runs: %s)\n' "$m_lighttpd" "${runs[lighttpd]% }"
    awk -v a="$m_webserv" -v b="$m_lighttpd" 'BEGIN { printf "  webserv/lighttpd  %8.2f\n", a / b }'
fi

# --- 2. memory while streaming ------------------------------------------------------------------------

if ((STREAM_BYTES > 0)); then
    echo
    echo "Streaming $STREAM_BYTES bytes of CGI output to curl --limit-rate $RATE"
    for s in $STREAM_SERVERS; do
        # A fresh process, so that VmHWM is this transfer's peak (plus start-up).
        port[$s]=$(free_port)
        write_configs "${port[webserv]}" "${port[lighttpd]}"
        start "$s"
        pid=$(pid_of "$s")
        before=$(status_kib "$pid" VmRSS)
        ticks=$(cpu_ticks "$pid")
        got=$("${pin_client[@]}" curl -sS --limit-rate "$RATE" -o /dev/null \
            -w '%{http_code} %{size_download} %{time_total}' \
            "http://127.0.0.1:${port[$s]}/cgi-bin/big.sh") || die "curl failed against $s"
        read -r code size seconds <<<"$got"
        [[ $code == 200 && $size == "$STREAM_BYTES" ]] ||
            die "$s streamed '$code $size', want '200 $STREAM_BYTES'"
        hwm=$(status_kib "$pid" VmHWM)
        rss=$(status_kib "$pid" VmRSS)
        ticks=$(($(cpu_ticks "$pid") - ticks))
        stop "${index[$s]}"
        awk -v s="$s" -v b="$before" -v h="$hwm" -v r="$rss" -v t="$seconds" -v n="$size" \
            -v c="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {
            printf "  %-9s VmRSS before %5.1f MiB, VmHWM %5.1f MiB, after %5.1f MiB; %.2f s (%.0f MiB/s), server CPU %.2f s\n",
                s, b / 1024, h / 1024, r / 1024, t, n / 1048576 / t, c / hz }'
    done
fi
