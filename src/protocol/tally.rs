//! What a client connection tells its worker's figures (`observe::metrics`): the phase it is in
//! as nginx's stub_status counts it (the session says which), the bytes its transport moved,
//! and how its TLS handshake ended. The worker asks after every drive ([`Tally::report`]) and
//! when it drops the connection ([`Tally::closed`]); in between, nothing is counted twice and
//! nothing is written to the shared figures.

use crate::observe::metrics::{Phase, WorkerStats};
use crate::transport::Transport;

#[derive(Debug)]
pub struct Tally {
    /// The phase the figures count this connection in.
    phase: Phase,
    /// The transport's byte counts the figures have been told.
    received: u64,
    sent: u64,
    tls: Handshake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    /// Plain HTTP, or a handshake already counted.
    Counted,
    Running,
}

impl Tally {
    /// A new connection: waiting (the worker counted it so when it opened it).
    pub fn new(transport: &Transport) -> Tally {
        Tally {
            phase: Phase::Waiting,
            received: 0,
            sent: 0,
            tls: if transport.is_tls() {
                Handshake::Running
            } else {
                Handshake::Counted
            },
        }
    }

    /// Brings the worker's figures up to date: the connection is in `phase` now.
    #[inline]
    pub fn report(&mut self, phase: Phase, transport: &Transport, stats: &WorkerStats) {
        stats.moved(self.phase, phase);
        self.phase = phase;
        let (received, sent) = (transport.received(), transport.sent());
        if received != self.received {
            stats.bytes_in.add(received - self.received);
            self.received = received;
        }
        if sent != self.sent {
            stats.bytes_out.add(sent - self.sent);
            self.sent = sent;
        }
        if self.tls == Handshake::Running && !transport.handshaking() {
            // A TLS port answering plain HTTP has no handshake: not counted as one.
            if transport.negotiated().is_some() {
                stats.tls_handshakes.inc();
            }
            self.tls = Handshake::Counted;
        }
    }

    /// A request head was read: counted, and the connection is writing from now on (so that
    /// a status page counts the request that asks for it, as nginx's does).
    #[inline]
    pub fn request_started(&mut self, stats: &WorkerStats) {
        stats.requests.inc();
        stats.moved(self.phase, Phase::Writing);
        self.phase = Phase::Writing;
    }

    /// The connection is being dropped: its last figures, and it leaves its phase.
    pub fn closed(&mut self, transport: &Transport, stats: &WorkerStats) {
        let phase = self.phase;
        self.report(phase, transport, stats);
        stats.closed(self.phase);
        if self.tls == Handshake::Running {
            stats.tls_failures.inc();
        }
    }
}
