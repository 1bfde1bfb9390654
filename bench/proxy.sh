#!/usr/bin/env bash
# bench/proxy.sh: webserv's reverse proxy against nginx (proxy_pass + upstream keepalive), h2o
# (proxy.reverse.url) and HAProxy: 1 KiB through each to bench/ceiling.c with keep-alive on both
# sides (req/s, p99, proxy CPU per request), and a 1 GiB response to a slow reader (the proxy's
# RSS growth). Builds webserv (release) and the ceiling, then runs bench/proxy.py, which writes
# bench/results/proxy.md. See bench/README.md.
#
#   bench/proxy.sh             3 interleaved rounds of 5 s, a 1 GiB stream at 100 MB/s (~3 min)
#   bench/proxy.sh --quick     1 round of 1 s, a 256 MiB stream: a smoke test
#   bench/proxy.sh --help      every option
#
# Environment: WEBSERV (binary to measure; default: build target/release/webserv),
# CARGO_TARGET_DIR (honoured by the build).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

note() { echo "bench: $*" >&2; }
die() { note "$*"; exit 1; }

for arg in "$@"; do
    if [[ $arg == -h || $arg == --help ]]; then
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        echo
        exec python3 "$here/proxy.py" --help
    fi
done

declare -A package_of=([nginx]=nginx [h2o]=h2o [haproxy]=haproxy [wrk]=wrk [curl]=curl
    [python3]=python3 [gcc]=gcc [taskset]=util-linux)
missing=()
for cmd in "${!package_of[@]}"; do
    command -v "$cmd" >/dev/null || missing+=("${package_of[$cmd]}")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null ||
        die "missing: ${missing[*]}; install them (this script knows apt-get only)"
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    note "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" ||
        die "apt-get install ${missing[*]} failed"
fi
for service in nginx h2o haproxy; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
        note "stopping the system's $service service (it would compete for the CPUs)"
        systemctl stop "$service" 2>/dev/null || true
    fi
done

target=${CARGO_TARGET_DIR:-$repo/target}
if [[ -z ${WEBSERV:-} ]]; then
    note "building webserv (cargo build --release)"
    (cd "$repo" && cargo build --release --locked --quiet) || die "cargo build --release failed"
    WEBSERV=$target/release/webserv
fi
[[ -x $WEBSERV ]] || die "no webserv binary at $WEBSERV"
ceiling=$target/bench-ceiling
if [[ ! -x $ceiling || $here/ceiling.c -nt $ceiling ]]; then
    gcc -O2 -o "$ceiling" "$here/ceiling.c" || die "cannot compile bench/ceiling.c"
fi

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 "$here/proxy.py" --webserv "$WEBSERV" --ceiling "$ceiling" --repo "$repo" \
    --command "bench/proxy.sh $*" "$@"
