#!/usr/bin/env bash
# bench/all.sh: the whole benchmark in one command. Installs what is missing (Debian/Ubuntu:
# nginx lighttpd h2o wrk curl python3 gcc), builds webserv (release) and the C ceiling server
# (bench/ceiling.c), then runs every scenario of bench/bench.py against nginx, lighttpd and h2o
# and writes bench/RESULTS.md. See bench/README.md.
#
#   bench/all.sh              full run: 3 interleaved rounds of 5 s per server and scenario (~20 min)
#   bench/all.sh --quick      1 round of 1 s: a smoke test (~3 min), report in bench/results/quick.md
#   bench/all.sh --only a,e   some scenarios only (a b c d e f h)
#   bench/all.sh --help       every option
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
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        echo
        exec python3 "$here/bench.py" --help
    fi
done

# --- what it needs -------------------------------------------------------------------------------

declare -A package_of=([nginx]=nginx [lighttpd]=lighttpd [h2o]=h2o [wrk]=wrk [curl]=curl
    [python3]=python3 [gcc]=gcc [taskset]=util-linux [perl]=perl)
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
    # A fresh machine may have another apt-get running: retry on the dpkg lock.
    for try in 1 2 3 4 5 6; do
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" && break
        ((try < 6)) || die "apt-get install ${missing[*]} failed"
        sleep 10
    done
fi
# Debian's packages start their services: stop them, so they take no CPU or port 80 (they are
# not what is measured; the benchmark starts its own instances on free ports).
for service in nginx lighttpd h2o; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
        note "stopping the system's $service service (it would compete for the CPUs)"
        systemctl stop "$service" 2>/dev/null || true
    fi
done

# --- build ----------------------------------------------------------------------------------------

if [[ -z ${WEBSERV:-} ]]; then
    command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup.rs)"
    note "building webserv (cargo build --release)"
    (cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
    WEBSERV=${CARGO_TARGET_DIR:-$repo/target}/release/webserv
fi
[[ -x $WEBSERV ]] || die "no webserv binary at $WEBSERV"

build=$(mktemp -d "${TMPDIR:-/tmp}/webserv-bench-build.XXXXXX")
trap 'rm -rf "$build"' EXIT
gcc -O2 -Wall -o "$build/ceiling" "$here/ceiling.c" || die "gcc could not build bench/ceiling.c"

cmdline="bench/all.sh${*:+ $*}"
python3 -B "$here/bench.py" --webserv "$WEBSERV" --ceiling "$build/ceiling" --repo "$repo" \
    --command "$cmdline" "$@"
