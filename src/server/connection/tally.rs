//! What a connection tells its worker's figures (`observe::metrics`): the phase it is in as
//! nginx's stub_status counts it, the bytes it moved, and how its TLS handshake ended. The
//! worker calls [`Connection::report`] after every drive and [`Connection::report_closed`]
//! when it drops the connection; between them the connection only adds to plain fields.

use super::{Connection, State, Transport};
use crate::observe::metrics::{Phase, WorkerStats};

#[derive(Debug)]
pub(super) struct Tally {
    /// The phase the figures count this connection in.
    phase: Phase,
    /// Bytes read and written since the last report.
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
    tls: Handshake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    /// Plain HTTP, or a handshake already counted.
    Counted,
    Running,
}

impl Tally {
    pub(super) fn new(tls: bool) -> Tally {
        Tally {
            phase: Phase::Waiting,
            bytes_in: 0,
            bytes_out: 0,
            tls: if tls {
                Handshake::Running
            } else {
                Handshake::Counted
            },
        }
    }
}

impl Connection {
    /// Where the connection is: waiting for a request, reading its head, or past it.
    fn phase(&self) -> Phase {
        match &self.state {
            State::Head { .. } if self.input.is_empty() => Phase::Waiting,
            State::Head { .. } => Phase::Reading,
            _ => Phase::Writing,
        }
    }

    /// Brings the worker's figures up to date with this connection.
    pub fn report(&mut self, stats: &WorkerStats) {
        let phase = self.phase();
        let tally = &mut self.tally;
        stats.moved(tally.phase, phase);
        tally.phase = phase;
        if tally.bytes_in > 0 {
            stats.bytes_in.add(std::mem::take(&mut tally.bytes_in));
        }
        if tally.bytes_out > 0 {
            stats.bytes_out.add(std::mem::take(&mut tally.bytes_out));
        }
        if tally.tls == Handshake::Running
            && let Transport::Tls(tls) = &self.transport
            && tls.negotiated().is_some()
        {
            stats.tls_handshakes.inc();
            tally.tls = Handshake::Counted;
        }
    }

    /// A request head was read: counted, and the connection is writing from now on (so that
    /// a status page counts the request that asks for it, as nginx does).
    pub(super) fn request_started(&mut self, stats: &WorkerStats) {
        stats.requests.inc();
        stats.moved(self.tally.phase, Phase::Writing);
        self.tally.phase = Phase::Writing;
    }

    /// The connection is being dropped: its last figures, and it leaves its phase.
    pub fn report_closed(&mut self, stats: &WorkerStats) {
        self.report(stats);
        stats.closed(self.tally.phase);
        if self.tally.tls == Handshake::Running {
            stats.tls_failures.inc();
        }
    }
}
