#!/bin/sh
# Bounded fuzzing of webserv's parsers with libFuzzer (cargo-fuzz). Not run by CI.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Each target runs for SECONDS_PER_TARGET (default 60) under `nice`, starting from the seeds in
# fuzz/seeds/TARGET plus the corpus it grew on earlier runs (fuzz/corpus/TARGET, not committed).
# A crash leaves its input in fuzz/artifacts/TARGET/; make it a regression test (see README,
# "Fuzzing and property tests") before fixing. The summary (executions, time, crashes) goes to
# stdout and to fuzz/last-run.txt.
set -eu
cd "$(dirname "$0")"
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"request_head chunked multipart cgi_headers path_normalize config_parse proxy_response"}

nice cargo +nightly fuzz build -O >/dev/null

summary=last-run.txt
: > "$summary"
status=0
for t in $targets; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/run.log"
    if nice cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see $log and artifacts/$t/)"
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    line=$(printf '%-15s %10s execs in %4ss  cov %6s  %s' "$t" "${runs:-?}" "$secs" "${cov:-?}" "$result")
    echo "$line" | tee -a "$summary"
done
exit $status
