#!/usr/bin/env bash
# bench/run.sh: static-file throughput of webserv against nginx and lighttpd, on this machine.
#
# Builds webserv (release), serves the same files from one temporary docroot with all three
# servers (each on a free port of 127.0.0.1), checks each answers correctly, then runs wrk
# against them in turn (webserv, nginx, lighttpd, webserv, ...) for ROUNDS rounds per file and
# prints the median requests/second of each, with webserv's ratio to the others. The table is
# also written to bench/results/latest.md. See bench/README.md.
#
# Environment (defaults in brackets):
#   ROUNDS [3]           measured runs per server and file
#   DURATION [5s]        length of each run (wrk -d)
#   CONNS [64]           open connections (wrk -c)
#   THREADS [1]          wrk threads (wrk -t)
#   WORKERS [1]          webserv workers (threads), nginx worker processes, lighttpd server.max-worker
#   SIZES [1k 64k]       files to fetch, among 1k, 64k, 1m
#   WARMUP [1s]          an unmeasured run per server and file first; 0 to skip
#   SERVERS [webserv nginx lighttpd]   which servers to run, in this order
#   PIN [auto]           1: wrk on CPU 0 and the servers on the other CPUs (taskset);
#                        auto: do so when there are more CPUs than WORKERS; 0: no pinning
#   WEBSERV [target/release/webserv]   the binary to measure
#   BUILD [1]            0: do not run `cargo build --release` first
#   KEEP_TMP [0]         1: keep the temporary directory (configs, logs, raw wrk output)
#   RESULTS [bench/results/latest.md]  where the markdown table goes

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}
SIZES=${SIZES:-1k 64k}
WARMUP=${WARMUP:-1s}
SERVERS=${SERVERS:-webserv nginx lighttpd}
PIN=${PIN:-auto}
WEBSERV=${WEBSERV:-$repo/target/release/webserv}
BUILD=${BUILD:-1}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS=${RESULTS:-$here/results/latest.md}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# --- checks ------------------------------------------------------------------------------------

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer, not '$WORKERS'"
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer, not '$CONNS'"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, not '$THREADS'"
((CONNS >= THREADS)) || die "CONNS ($CONNS) must be at least THREADS ($THREADS)"
for s in $SIZES; do
    case $s in 1k | 64k | 1m) ;; *) die "unknown size '$s' in SIZES (use 1k, 64k, 1m)" ;; esac
done
for s in $SERVERS; do
    case $s in webserv | nginx | lighttpd) ;; *) die "unknown server '$s' in SERVERS" ;; esac
done
[[ -n $SERVERS ]] || die "SERVERS is empty"

# Debian installs nginx and lighttpd in /usr/sbin, which is not always on a user's PATH.
PATH=$PATH:/usr/sbin:/sbin
need=(wrk curl python3)
for s in $SERVERS; do [[ $s == webserv ]] || need+=("$s"); done
for cmd in "${need[@]}"; do
    command -v "$cmd" >/dev/null ||
        die "'$cmd' not found (Debian/Ubuntu: apt-get install -y nginx lighttpd wrk curl python3)"
done

has() { [[ " $SERVERS " == *" $1 "* ]]; }

if has webserv; then
    if [[ $BUILD == 1 ]]; then
        note "building webserv (cargo build --release)"
        (cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
    fi
    [[ -x $WEBSERV ]] || die "no webserv binary at $WEBSERV"
fi

# --- CPU pinning ---------------------------------------------------------------------------------

ncpu=$(nproc)
if [[ $PIN == auto ]]; then
    if ((ncpu > WORKERS)) && command -v taskset >/dev/null; then PIN=1; else PIN=0; fi
fi
if [[ $PIN == 1 ]]; then
    command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
    ((ncpu >= 2)) || die "PIN=1 needs at least 2 CPUs"
    server_cpus="1-$((ncpu - 1))"
    pin_server=(taskset -c "$server_cpus")
    pin_client=(taskset -c 0)
else
    pin_server=()
    pin_client=()
fi

# --- the temporary directory, the files and the ports ----------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/webserv-bench.XXXXXX")
# nginx drops its workers to an unprivileged user when started as root: they must be able to read.
chmod 755 "$tmp"

pids=()
names=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local i
    for i in "${!pids[@]}"; do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        # Up to 5 s for a graceful exit, then SIGKILL.
        local n=0
        while kill -0 "${pids[$i]}" 2>/dev/null && ((n < 50)); do
            sleep 0.1
            n=$((n + 1))
        done
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            note "${names[$i]} (pid ${pids[$i]}) did not stop; killing it"
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
        wait "${pids[$i]}" 2>/dev/null || true
    done
    if [[ $KEEP_TMP == 1 ]]; then
        note "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

docroot=$tmp/www
mkdir -p "$docroot" "$tmp/logs" "$tmp/wrk" "$tmp/nginx-temp"
cp "$repo/www/bench/1k.html" "$docroot/1k.html"
head -c 65536 /dev/urandom >"$docroot/64k.bin"
head -c 1048576 /dev/urandom >"$docroot/1m.bin"
chmod 755 "$docroot"
chmod 644 "$docroot"/*

path_of() {
    case $1 in 1k) echo /1k.html ;; 64k) echo /64k.bin ;; 1m) echo /1m.bin ;; esac
}
bytes_of() {
    case $1 in 1k) echo 1024 ;; 64k) echo 65536 ;; 1m) echo 1048576 ;; esac
}

# Free ports, chosen by the kernel: bind port 0, read the port, release it.
read -r -a ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
declare -A port=([webserv]=${ports[0]} [nginx]=${ports[1]} [lighttpd]=${ports[2]})

# --- configurations ----------------------------------------------------------------------------------

# Room for wrk's connections and then some, in nginx and lighttpd.
max_conns=$((CONNS + 64 > 4096 ? CONNS + 64 : 4096))

cat >"$tmp/webserv.conf" <<EOF
workers $WORKERS;
access_log off;
error_log $tmp/logs/webserv-error.log;
server {
    listen 127.0.0.1:${port[webserv]};
    root $docroot;
}
EOF

# nginx: what a tuned static-file server would have. keepalive_requests is raised so that wrk's
# connections stay open for the whole run, as they do with the other two servers.
cat >"$tmp/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $tmp/nginx.pid;
error_log $tmp/logs/nginx-error.log warn;
events {
    worker_connections $max_conns;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    types {
        text/html html;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx-temp/body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    server {
        listen 127.0.0.1:${port[nginx]};
        root $docroot;
    }
}
EOF

# lighttpd: no modules loaded (hence no access log), sendfile, long keep-alive. Its error log
# is its stderr, as it opens the file only after dropping root privileges.
{
    cat <<EOF
server.modules = ()
server.document-root = "$docroot"
server.bind = "127.0.0.1"
server.port = ${port[lighttpd]}
server.upload-dirs = ( "$tmp" )
server.network-backend = "sendfile"
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 75
server.max-connections = $max_conns
server.max-fds = $((2 * max_conns + 64))
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".bin" => "application/octet-stream" )
EOF
    if ((WORKERS > 1)); then echo "server.max-worker = $WORKERS"; fi
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

# --- start, check ------------------------------------------------------------------------------------

start() {
    local name=$1
    shift
    "${pin_server[@]}" "$@" >"$tmp/logs/$name.out" 2>&1 &
    pids+=("$!")
    names+=("$name")
}

declare -A version_of=()
for s in $SERVERS; do
    case $s in
    webserv)
        "$WEBSERV" -t "$tmp/webserv.conf" >"$tmp/logs/webserv-t.out" 2>&1 ||
            die "webserv rejects its configuration: $(cat "$tmp/logs/webserv-t.out")"
        version_of[webserv]=$("$WEBSERV" --version 2>/dev/null | head -n 1 || true)
        start webserv "$WEBSERV" "$tmp/webserv.conf"
        ;;
    nginx)
        nginx -t -e "$tmp/logs/nginx-error.log" -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/logs/nginx-t.out" 2>&1 ||
            die "nginx rejects its configuration: $(cat "$tmp/logs/nginx-t.out")"
        version_of[nginx]=$(nginx -v 2>&1 | sed 's/^nginx version: //')
        start nginx nginx -e "$tmp/logs/nginx-error.log" -p "$tmp" -c "$tmp/nginx.conf" -g 'daemon off;'
        ;;
    lighttpd)
        lighttpd -tt -f "$tmp/lighttpd.conf" >"$tmp/logs/lighttpd-t.out" 2>&1 ||
            die "lighttpd rejects its configuration: $(cat "$tmp/logs/lighttpd-t.out")"
        version_of[lighttpd]=$(lighttpd -v 2>&1 | head -n 1 | sed 's/ - .*//')
        start lighttpd lighttpd -D -f "$tmp/lighttpd.conf"
        ;;
    esac
done

# Every server must answer 200 with the whole file, for every size, before anything is measured.
check() {
    local name=$1 size=$2 url got
    url="http://127.0.0.1:${port[$name]}$(path_of "$size")"
    local i
    for ((i = 0; i < 50; i++)); do
        got=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' --max-time 5 "$url" 2>/dev/null) || got=
        [[ $got == "200 $(bytes_of "$size")" ]] && return 0
        # Still starting up: retry for up to 5 s. Gone: give up now.
        local idx
        for idx in "${!names[@]}"; do
            if [[ ${names[$idx]} == "$name" ]] && ! kill -0 "${pids[$idx]}" 2>/dev/null; then
                die "$name exited at startup: $(tail -n 5 "$tmp/logs/$name.out")"
            fi
        done
        sleep 0.1
    done
    die "$name does not serve $url correctly (got '${got:-no answer}', want '200 $(bytes_of "$size")')"
}
for s in $SERVERS; do
    for size in $SIZES; do check "$s" "$size"; done
    note "$s ${version_of[$s]:+(${version_of[$s]}) }is up on 127.0.0.1:${port[$s]}"
done

# --- measure ------------------------------------------------------------------------------------------

# One wrk run; prints "REQS_PER_SEC NON2XX SOCKET_ERRORS" and keeps the raw output.
run_wrk() {
    local name=$1 size=$2 duration=$3 out=$4
    local url="http://127.0.0.1:${port[$name]}$(path_of "$size")"
    "${pin_client[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$duration" --latency "$url" >"$out" 2>&1 ||
        die "wrk failed against $name: $(tail -n 3 "$out")"
    awk '
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ {
            gsub(",", ""); errors = $4 + $6 + $8 + $10
        }
        END {
            if (rps == "") exit 1
            printf "%s %d %d\n", rps, non2xx, errors
        }' "$out" || die "no Requests/sec in wrk output for $name: $out"
}

results=$tmp/results.tsv
: >"$results"
total_runs=0
for size in $SIZES; do for s in $SERVERS; do total_runs=$((total_runs + ROUNDS)); done; done
note "measuring: $ROUNDS round(s) x {$SIZES} x {$SERVERS}, wrk -t$THREADS -c$CONNS -d$DURATION" \
    "(pinned: $([[ $PIN == 1 ]] && echo "wrk on CPU 0, servers on CPUs $server_cpus" || echo no))"
run=0
for size in $SIZES; do
    if [[ $WARMUP != 0 ]]; then
        for s in $SERVERS; do run_wrk "$s" "$size" "$WARMUP" "$tmp/wrk/warmup-$s-$size.txt" >/dev/null; done
    fi
    for ((round = 1; round <= ROUNDS; round++)); do
        for s in $SERVERS; do
            run=$((run + 1))
            stats=$(run_wrk "$s" "$size" "$DURATION" "$tmp/wrk/$s-$size-$round.txt")
            read -r rps non2xx errors <<<"$stats"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$s" "$round" "$rps" "$non2xx" "$errors" >>"$results"
            printf 'bench: [%2d/%d] %-3s round %d  %-9s %10.0f req/s%s\n' "$run" "$total_runs" \
                "$size" "$round" "$s" "$rps" \
                "$( ((non2xx + errors > 0)) && echo "  ($non2xx non-2xx, $errors socket errors)")" >&2
        done
    done
done

# --- report ------------------------------------------------------------------------------------------

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
if [[ $WEBSERV != "$repo/target/release/webserv" ]]; then
    commit="unknown (binary $WEBSERV)"
else
    commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
        commit="$commit (modified)"
    fi
fi

mkdir -p "$(dirname "$RESULTS")"
SERVERS=$SERVERS SIZES=$SIZES ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS \
    WORKERS=$WORKERS PIN=$PIN NCPU=$ncpu CPU_MODEL=$cpu_model COMMIT=$commit \
    KERNEL=$(uname -sr) V_WEBSERV=${version_of[webserv]:-} V_NGINX=${version_of[nginx]:-} \
    V_LIGHTTPD=${version_of[lighttpd]:-} \
    python3 - "$results" "$RESULTS" <<'EOF'
import os, sys, statistics, datetime

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
env = os.environ
servers = env["SERVERS"].split()
sizes = env["SIZES"].split()
files = {"1k": "1k.html", "64k": "64k.bin", "1m": "1m.bin"}
runs = {}
bad = {}
for size, server, rnd, rps, non2xx, errors in rows:
    runs.setdefault((size, server), []).append(float(rps))
    bad[(size, server)] = bad.get((size, server), 0) + int(non2xx) + int(errors)
med = {k: statistics.median(v) for k, v in runs.items()}

others = [s for s in servers if s != "webserv"] if "webserv" in servers else []
head = ["file"] + [f"{s} req/s" for s in servers] + [f"webserv/{o}" for o in others]
table = []
for size in sizes:
    line = [files[size]]
    for s in servers:
        cell = f"{med[(size, s)]:,.0f}"
        if bad[(size, s)]:
            cell += " (!)"
        line.append(cell)
    for o in others:
        line.append(f"{med[(size, 'webserv')] / med[(size, o)]:.2f}")
    table.append(line)

def markdown(head, table, text_columns=1):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i < text_columns else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in table]
    return "\n".join(out)

def text(head, table):
    widths = [max(len(r[i]) for r in [head] + table) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in table])

rounds = int(env["ROUNDS"])
what = (f"median of {rounds} run(s) of `wrk -t{env['THREADS']} -c{env['CONNS']} -d{env['DURATION']}` "
        f"per server and file, servers interleaved; {env['WORKERS']} worker(s) each")
def version(s):
    v = env.get("V_" + s.upper()) or "version unknown"
    return v if v.lower().startswith(s) else f"{s} ({v})"
versions = ", ".join(version(s) for s in servers)
note_bad = "\n(!) some responses were not 2xx/3xx or there were socket errors: see the raw runs.\n" \
    if any(bad.values()) else ""

print()
print(text(head, table))
print(f"\n{what}.")
if note_bad:
    print(note_bad.strip())

detail_head = ["file", "server"] + [f"run {i + 1}" for i in range(rounds)]
detail = [[files[size], s] + [f"{x:,.0f}" for x in runs[(size, s)]] for size in sizes for s in servers]

md = f"""# Benchmark: static files, requests per second

{markdown(head, table)}
{note_bad}
- What: {what}; higher is better.{' A ratio above 1.00 means webserv is faster.' if others else ''}
- When: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}{'; webserv commit ' + env['COMMIT'] if 'webserv' in servers else ''}.
- Machine: {env['NCPU']} CPU(s), {env['CPU_MODEL'] or 'unknown CPU'}, {env['KERNEL']}.
- CPU pinning: {'wrk on CPU 0, servers on the others' if env['PIN'] == '1' else 'none'}.
- Servers: {versions}.

All runs (req/s):

{markdown(detail_head, detail, 2)}
"""
open(sys.argv[2], "w").write(md)
EOF
note "table written to ${RESULTS#"$repo"/}"
