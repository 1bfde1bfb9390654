//! The server's counters, and the two pages that show them: `stub_status` (nginx's exact text)
//! and `metrics` (Prometheus text exposition format 0.0.4).
//!
//! Each worker has its own [`WorkerStats`], which only that worker writes: an update is a
//! relaxed load and store of a word in a cache line no other thread writes (no atomic
//! read-modify-write, no contention), so counting costs a few instructions per event. A
//! scrape, on any worker, reads every worker's figures (relaxed loads: each figure is exact,
//! the set of them is a snapshot taken within microseconds) and sums them or lists them per
//! worker. The registry lives as long as the process: a reload keeps counting.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A figure written by one thread only.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        // One writer: a load and a store, not a locked read-modify-write.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    #[inline]
    pub fn dec(&self) {
        self.add(u64::MAX);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the response-time histograms, in seconds (Prometheus' default buckets).
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Response times of one kind of backend: counts per bucket (not cumulative; +Inf last), the
/// sum in microseconds, requests and failures.
#[derive(Default)]
pub struct Backend {
    pub requests: Counter,
    pub failures: Counter,
    buckets: [Counter; BUCKETS.len() + 1],
    sum_micros: Counter,
}

impl Backend {
    /// A response of this backend ended after `took`.
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].inc();
        self.sum_micros.add(took.as_micros() as u64);
    }
}

/// The kinds of backend whose figures are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Cgi,
    /// Proxied and FastCGI backends (`webserv_upstream_*`).
    Upstream,
}

/// Where a connection is, as nginx's stub_status counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No byte of a request yet: new, or idle between keep-alive requests.
    Waiting,
    /// Reading a request head.
    Reading,
    /// Everything after the head: its body, the handler or script, the response, the close.
    Writing,
}

/// One worker's figures; aligned so that two workers never write one cache line.
#[derive(Default)]
#[repr(align(128))]
pub struct WorkerStats {
    pub accepted: Counter,
    pub handled: Counter,
    pub requests: Counter,
    waiting: Counter,
    reading: Counter,
    writing: Counter,
    /// Responses by status class: 1xx to 5xx.
    responses: [Counter; 5],
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub tls_handshakes: Counter,
    pub tls_failures: Counter,
    pub cgi: Backend,
    pub upstream: Backend,
}

impl WorkerStats {
    fn phase(&self, phase: Phase) -> &Counter {
        match phase {
            Phase::Waiting => &self.waiting,
            Phase::Reading => &self.reading,
            Phase::Writing => &self.writing,
        }
    }

    /// The figures of a kind of backend.
    #[inline]
    pub fn backend(&self, kind: BackendKind) -> &Backend {
        match kind {
            BackendKind::Cgi => &self.cgi,
            BackendKind::Upstream => &self.upstream,
        }
    }

    /// A connection was accepted (and is handled: none is dropped for lack of room).
    pub fn opened(&self) {
        self.accepted.inc();
        self.handled.inc();
        self.waiting.inc();
    }

    /// A connection moved from one phase to another.
    #[inline]
    pub fn moved(&self, from: Phase, to: Phase) {
        if from != to {
            self.phase(from).dec();
            self.phase(to).inc();
        }
    }

    /// A connection in `phase` closed.
    pub fn closed(&self, phase: Phase) {
        self.phase(phase).dec();
    }

    /// A response with `status` was sent.
    #[inline]
    pub fn responded(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.responses[class].inc();
    }
}

/// Every worker's figures.
pub struct Registry {
    workers: Box<[Arc<WorkerStats>]>,
}

impl Default for Registry {
    /// One worker's figures.
    fn default() -> Registry {
        Registry::new(1)
    }
}

impl Registry {
    pub fn new(workers: usize) -> Registry {
        Registry {
            workers: (0..workers.max(1)).map(|_| Arc::default()).collect(),
        }
    }

    /// A registry nobody reads, for code that needs one and serves no status page (tests).
    pub fn detached() -> &'static Registry {
        static DETACHED: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        DETACHED.get_or_init(|| Registry::new(1))
    }

    /// The figures of worker `index` (the last one for an index out of range), which that
    /// worker keeps in its context.
    pub fn worker(&self, index: usize) -> &Arc<WorkerStats> {
        &self.workers[index.min(self.workers.len() - 1)]
    }

    fn sum(&self, figure: impl Fn(&WorkerStats) -> u64) -> u64 {
        self.workers
            .iter()
            .map(|w| figure(w))
            .fold(0, u64::wrapping_add)
    }

    /// nginx's stub_status page, byte for byte.
    pub fn stub_status(&self) -> String {
        let reading = self.sum(|w| w.reading.get());
        let writing = self.sum(|w| w.writing.get());
        let waiting = self.sum(|w| w.waiting.get());
        format!(
            "Active connections: {} \nserver accepts handled requests\n {} {} {} \n\
             Reading: {reading} Writing: {writing} Waiting: {waiting} \n",
            reading.wrapping_add(writing).wrapping_add(waiting),
            self.sum(|w| w.accepted.get()),
            self.sum(|w| w.handled.get()),
            self.sum(|w| w.requests.get()),
        )
    }

    /// The Prometheus text exposition (version 0.0.4), every figure per worker.
    pub fn prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let per_worker = |out: &mut String,
                          name: &str,
                          kind: &str,
                          help: &str,
                          figure: &dyn Fn(&WorkerStats) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (i, w) in self.workers.iter().enumerate() {
                let _ = writeln!(out, "{name}{{worker=\"{i}\"}} {}", figure(w));
            }
        };
        per_worker(
            &mut out,
            "webserv_connections_accepted_total",
            "counter",
            "Connections accepted.",
            &|w| w.accepted.get(),
        );
        per_worker(
            &mut out,
            "webserv_connections_handled_total",
            "counter",
            "Connections handled.",
            &|w| w.handled.get(),
        );
        let _ = writeln!(
            out,
            "# HELP webserv_connections Open connections by state (reading a request head, \
             writing: processing or answering, waiting: idle).\n# TYPE webserv_connections gauge"
        );
        for (i, w) in self.workers.iter().enumerate() {
            for (state, phase) in [
                ("reading", Phase::Reading),
                ("writing", Phase::Writing),
                ("waiting", Phase::Waiting),
            ] {
                let _ = writeln!(
                    out,
                    "webserv_connections{{worker=\"{i}\",state=\"{state}\"}} {}",
                    w.phase(phase).get() as i64
                );
            }
        }
        per_worker(
            &mut out,
            "webserv_requests_total",
            "counter",
            "Requests begun.",
            &|w| w.requests.get(),
        );
        let _ = writeln!(
            out,
            "# HELP webserv_responses_total Responses sent, by status class.\n\
             # TYPE webserv_responses_total counter"
        );
        for (i, w) in self.workers.iter().enumerate() {
            for (c, counter) in w.responses.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "webserv_responses_total{{worker=\"{i}\",class=\"{}xx\"}} {}",
                    c + 1,
                    counter.get()
                );
            }
        }
        per_worker(
            &mut out,
            "webserv_received_bytes_total",
            "counter",
            "Bytes received from clients (HTTP, after TLS).",
            &|w| w.bytes_in.get(),
        );
        per_worker(
            &mut out,
            "webserv_sent_bytes_total",
            "counter",
            "Bytes sent to clients (HTTP, before TLS).",
            &|w| w.bytes_out.get(),
        );
        per_worker(
            &mut out,
            "webserv_tls_handshakes_total",
            "counter",
            "TLS handshakes completed.",
            &|w| w.tls_handshakes.get(),
        );
        per_worker(
            &mut out,
            "webserv_tls_handshake_failures_total",
            "counter",
            "TLS connections closed before their handshake completed.",
            &|w| w.tls_failures.get(),
        );
        for (kind, what, backend) in [
            (
                "cgi",
                "CGI scripts",
                (|w: &WorkerStats| &w.cgi) as fn(&WorkerStats) -> &Backend,
            ),
            ("upstream", "proxied requests", |w: &WorkerStats| {
                &w.upstream
            }),
        ] {
            per_worker(
                &mut out,
                &format!("webserv_{kind}_requests_total"),
                "counter",
                &format!("{what} started."),
                &|w| backend(w).requests.get(),
            );
            per_worker(
                &mut out,
                &format!("webserv_{kind}_failures_total"),
                "counter",
                &format!("{what} that failed (502, 503, 504)."),
                &|w| backend(w).failures.get(),
            );
            let name = format!("webserv_{kind}_response_seconds");
            let _ = writeln!(
                out,
                "# HELP {name} Time from the start of {what} to the end of their response.\n\
                 # TYPE {name} histogram"
            );
            for (i, w) in self.workers.iter().enumerate() {
                let b = backend(w);
                let mut cumulative = 0u64;
                for (j, le) in BUCKETS.iter().enumerate() {
                    cumulative += b.buckets[j].get();
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{worker=\"{i}\",le=\"{le}\"}} {cumulative}"
                    );
                }
                cumulative += b.buckets[BUCKETS.len()].get();
                let _ = writeln!(
                    out,
                    "{name}_bucket{{worker=\"{i}\",le=\"+Inf\"}} {cumulative}"
                );
                let _ = writeln!(
                    out,
                    "{name}_sum{{worker=\"{i}\"}} {}",
                    b.sum_micros.get() as f64 / 1e6
                );
                let _ = writeln!(out, "{name}_count{{worker=\"{i}\"}} {cumulative}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_status_has_nginx_exact_layout_and_sums_the_workers() {
        let registry = Registry::new(2);
        for w in 0..2 {
            let stats = registry.worker(w);
            stats.opened();
            stats.opened();
            stats.requests.add(3);
        }
        registry.worker(0).moved(Phase::Waiting, Phase::Reading);
        registry.worker(1).moved(Phase::Waiting, Phase::Writing);
        registry.worker(1).closed(Phase::Waiting);
        assert_eq!(
            registry.stub_status(),
            "Active connections: 3 \nserver accepts handled requests\n 4 4 6 \n\
             Reading: 1 Writing: 1 Waiting: 1 \n"
        );
    }

    #[test]
    fn histograms_are_cumulative_and_count_every_observation() {
        let registry = Registry::new(1);
        let cgi = &registry.worker(0).cgi;
        for ms in [1, 7, 7, 300, 20_000] {
            cgi.observe(Duration::from_millis(ms));
        }
        let text = registry.prometheus();
        for line in [
            "webserv_cgi_response_seconds_bucket{worker=\"0\",le=\"0.005\"} 1",
            "webserv_cgi_response_seconds_bucket{worker=\"0\",le=\"0.01\"} 3",
            "webserv_cgi_response_seconds_bucket{worker=\"0\",le=\"0.25\"} 3",
            "webserv_cgi_response_seconds_bucket{worker=\"0\",le=\"0.5\"} 4",
            "webserv_cgi_response_seconds_bucket{worker=\"0\",le=\"+Inf\"} 5",
            "webserv_cgi_response_seconds_count{worker=\"0\"} 5",
            "webserv_cgi_response_seconds_sum{worker=\"0\"} 20.315",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn status_classes_are_counted_apart() {
        let registry = Registry::new(1);
        for status in [101, 200, 204, 304, 404, 503, 999, 0] {
            registry.worker(0).responded(status);
        }
        let text = registry.prometheus();
        for (class, n) in [("1xx", 2), ("2xx", 2), ("3xx", 1), ("4xx", 1), ("5xx", 2)] {
            let line = format!("webserv_responses_total{{worker=\"0\",class=\"{class}\"}} {n}");
            assert!(text.contains(&line), "{line}");
        }
    }
}
