//! The CGI exchange as a state of the connection: the request body flows from the client into
//! the script's stdin, the script's output flows to the client, each side paced by the other.
//!
//! ```text
//!   Head (collect the script's header block) ──▶ Body (stream) ──▶ Exiting (stdout closed,
//!   waiting for the exit status) ──▶ Flushing (last bytes to the client) ──▶ done
//! ```
//!
//! Memory stays bounded whatever the sizes: stdout is read only while less than `OUT_LIMIT`
//! bytes wait for the client, and the client is read only while its buffered body bytes have
//! gone into the pipe.

use super::{Connection, Context, Flow, INPUT_LIMIT, READ_CHUNK, State};
use crate::cgi::env::{self, Endpoint};
use crate::cgi::headers;
use crate::cgi::process::{self, Process, Stdin};
use crate::cgi::script::Script;
use crate::handler;
use crate::http::request::{Method, Request};
use crate::http::response::{self, Body, Response};
use crate::observe::access_log::Entry;
use crate::server::fault::{self, Point};
use crate::server::log;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

/// Most response bytes waiting for the client before the script's output is left in its pipe.
const OUT_LIMIT: usize = 64 * 1024;
/// Longest header block a script may print.
const HEAD_LIMIT: usize = 32 * 1024;
/// How long after its output ends a script's exit status is awaited. A script that dies closes
/// its output and exits at once; one still running after this closed its output on purpose.
const EXIT_GRACE: Duration = Duration::from_millis(200);

pub(super) struct CgiRun {
    request: Request,
    process: Process,
    /// Request-body bytes still to come from the client.
    body_left: u64,
    phase: Phase,
    /// Bytes for the client (head, then body with its framing); `out[..out_sent]` is sent.
    out: Vec<u8>,
    out_sent: usize,
    framing: OutFraming,
    keep_alive: bool,
    cgi_timeout: Duration,
    send_timeout: Duration,
    last_output: Instant,
    last_sent: Instant,
    body_bytes: u64,
    /// Head and body bytes written to the client (`$bytes_sent`).
    bytes_sent: u64,
    log: Entry,
}

enum Phase {
    /// Collecting the header block.
    Head(Vec<u8>),
    Body,
    /// stdout closed at this instant; the exit status decides whether the response ends
    /// cleanly. A script that keeps running past [`EXIT_GRACE`] has simply closed its output.
    Exiting(Instant),
    /// Nothing more will be added to `out`.
    Flushing,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OutFraming {
    /// The script's Content-Length: this many body bytes still to send.
    Length(u64),
    Chunked,
    /// HTTP/1.0 without a length: the body ends with the connection.
    Close,
    /// No body is sent (HEAD, 204, 304); the output is read and dropped.
    Discard,
}

/// A chunked request body being written to a temporary file before the script starts.
pub(super) struct Spool {
    file: File,
    size: u64,
    pub(super) script: Box<Script>,
}

impl Spool {
    /// An anonymous temporary file: unlinked at once, gone when closed.
    pub(super) fn new(script: Box<Script>) -> io::Result<Spool> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(".webserv-body-{}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Spool {
            file,
            size: 0,
            script,
        })
    }

    pub(super) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }
}

impl Connection {
    /// Starts the script for `request`. `stdin`: the body source; `body_left`: body bytes the
    /// client has yet to send (they go through a pipe).
    pub(super) fn start_cgi(
        &mut self,
        request: Request,
        script: &Script,
        stdin: Stdin,
        content_length: Option<u64>,
        body_left: u64,
        ctx: &mut Context,
    ) -> State {
        let site = super::route(ctx.runtime, self.listen, Some(&request));
        let client_cert = self.client_cert(site.server);
        let endpoint = Endpoint {
            peer: self.peer,
            local: self.listen,
            server_name: site.server.server_names.first().map(String::as_str),
            document_root: &site.settings.root,
            content_length,
            https: matches!(self.transport, super::Transport::Tls(_)),
            client_cert: client_cert.as_deref(),
        };
        if process::at_capacity() {
            log::warn(&format!(
                "CGI {}: {} scripts already running in this worker",
                request.path,
                process::MAX_RUNNING
            ));
            let response = handler::error(503, &site).with_header("Retry-After", "1");
            ctx.stats.cgi.requests.inc();
            ctx.stats.cgi.failures.inc();
            return self.respond(&request, response, body_left == 0, ctx);
        }
        let environment = env::build(&request, script, &endpoint);
        let spawned = log::error_log_file().and_then(|stderr| {
            Process::spawn(
                script,
                &environment,
                stdin,
                stderr,
                ctx.poller,
                ctx.slot,
                ctx.generation,
            )
        });
        let process = match spawned {
            Ok(process) => process,
            Err(error) => {
                log::error(&format!("cannot run {}: {error}", script.file.display()));
                ctx.stats.cgi.requests.inc();
                ctx.stats.cgi.failures.inc();
                let response = handler::error(502, &site);
                return self.respond(&request, response, body_left == 0, ctx);
            }
        };
        self.deadline = Some(ctx.now + site.settings.cgi_timeout);
        ctx.stats.cgi.requests.inc();
        let log = self.entry(Some(&request), 200, ctx);
        // The client asked whether to send its body: the script is running, so yes.
        let mut out = Vec::new();
        if request.expect_continue && body_left > 0 && self.input.is_empty() {
            out.extend_from_slice(super::CONTINUE);
        }
        State::Cgi(Box::new(CgiRun {
            request,
            process,
            body_left,
            phase: Phase::Head(Vec::new()),
            out,
            out_sent: 0,
            framing: OutFraming::Discard,
            keep_alive: false,
            cgi_timeout: site.settings.cgi_timeout,
            send_timeout: site.settings.send_timeout,
            last_output: ctx.now,
            last_sent: ctx.now,
            body_bytes: 0,
            bytes_sent: 0,
            log,
        }))
    }

    /// A spooled chunked body is complete: run the script on it.
    pub(super) fn start_cgi_spooled(
        &mut self,
        request: Request,
        mut spool: Spool,
        ctx: &mut Context,
    ) -> State {
        let size = spool.size;
        if let Err(error) = spool.file.rewind() {
            log::error(&format!("request body spool: {error}"));
            let response = self.error_response(500, Some(&request), ctx);
            return self.respond(&request, response, true, ctx);
        }
        let script = spool.script;
        self.start_cgi(
            request,
            &script,
            Stdin::File(spool.file),
            Some(size),
            0,
            ctx,
        )
    }

    /// Records readiness of one of the script's fds: its stdout, its stdin, or its pidfd.
    pub fn cgi_ready(&mut self, stdout: bool, stdin: bool, exited: bool) {
        if let State::Cgi(run) = &mut self.state {
            if stdout {
                run.process.stdout_readable = true;
            }
            if stdin {
                run.process.stdin_writable = true;
            }
            if exited {
                // Collected at once: the pidfd is level-triggered and closes when reaped.
                let _ = run.process.exit_status();
            }
        }
    }

    pub(super) fn on_cgi(&mut self, mut run: Box<CgiRun>, ctx: &mut Context) -> (State, Flow) {
        if matches!(run.phase, Phase::Body) {
            fault::check(&run.request.target, Point::Cgi);
        }
        let mut progress = false;

        // The request body, client to script.
        if run.body_left > 0 {
            if !self.input.is_empty() {
                let take = (run.body_left).min(self.input.len() as u64) as usize;
                let written = if run.process.has_stdin() {
                    match run.process.write_stdin(&self.input[..take]) {
                        Ok(n) => n,
                        // The script stopped reading: what is left of the body is dropped, and
                        // the connection cannot be reused.
                        Err(_) => take,
                    }
                } else {
                    take
                };
                if written > 0 {
                    self.input.drain(..written);
                    run.body_left -= written as u64;
                    progress = true;
                }
            }
            if run.body_left == 0 {
                run.process.close_stdin();
            }
        }
        // More of the body when the buffered part is gone to the script; after the body,
        // reading keeps a pipelined request for later. End of stream means the client left:
        // the script is killed (as nginx does, a half-close is taken as a departure; only a
        // write could tell them apart). A TLS close_notify after the whole body is not a
        // departure but "nothing more": the script finishes and is answered; the end is read
        // (and answered with ours) after that.
        let room = if run.body_left > 0 {
            self.input.is_empty()
        } else {
            self.input.len() < INPUT_LIMIT && !self.sent_close_notify()
        };
        if self.can_read() && room {
            match self.read_some(INPUT_LIMIT) {
                Ok(0) => return (State::Closed, Flow::Continue),
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return (State::Closed, Flow::Continue),
            }
        }

        // The script's output.
        match std::mem::replace(&mut run.phase, Phase::Flushing) {
            Phase::Head(mut buffer) => {
                let room = (HEAD_LIMIT + 1).saturating_sub(buffer.len());
                match run.process.read_stdout(&mut buffer, room.min(READ_CHUNK)) {
                    Ok(Some(0)) | Err(_) => {
                        log::error(&format!(
                            "CGI {}: output ended before a complete header block",
                            run.request.path
                        ));
                        return (self.cgi_failed(&run.request, 502, ctx), Flow::Continue);
                    }
                    Ok(Some(_)) => {
                        progress = true;
                        run.last_output = ctx.now;
                        match headers::parse(&buffer, HEAD_LIMIT) {
                            Ok(Some((head, used))) => {
                                self.begin_cgi_response(&mut run, head, ctx);
                                run.phase = Phase::Body;
                                run.add_body(&buffer[used..]);
                            }
                            Ok(None) => run.phase = Phase::Head(buffer),
                            Err(error) => {
                                log::error(&format!("CGI {}: {error}", run.request.path));
                                return (self.cgi_failed(&run.request, 502, ctx), Flow::Continue);
                            }
                        }
                    }
                    Ok(None) => run.phase = Phase::Head(buffer),
                }
            }
            Phase::Body => {
                run.phase = Phase::Body;
                let pending = run.out.len() - run.out_sent;
                if pending < OUT_LIMIT {
                    let mut chunk = Vec::new();
                    match run
                        .process
                        .read_stdout(&mut chunk, (OUT_LIMIT - pending).min(READ_CHUNK * 2))
                    {
                        Ok(Some(0)) | Err(_) => {
                            run.phase = Phase::Exiting(ctx.now);
                            progress = true;
                        }
                        Ok(Some(_)) => {
                            run.last_output = ctx.now;
                            run.add_body(&chunk);
                            progress = true;
                        }
                        Ok(None) => {}
                    }
                }
            }
            Phase::Exiting(since) => match run.process.exit_status() {
                Some(status) => {
                    // A script killed by a signal died mid-response. One that exits with an
                    // error code after its output ended (php-cgi does after an error page) has
                    // said all it will: its body is complete, as Apache and lighttpd take it.
                    if !status.success() {
                        log::warn(&format!("CGI {}: {status}", run.request.path));
                    }
                    run.finish_body(status.signal().is_none());
                    run.phase = Phase::Flushing;
                    progress = true;
                }
                None if ctx.now >= since + EXIT_GRACE => {
                    run.finish_body(true);
                    run.process.release(run.cgi_timeout);
                    run.phase = Phase::Flushing;
                    progress = true;
                }
                None => run.phase = Phase::Exiting(since),
            },
            Phase::Flushing => {}
        }

        // Output to the client.
        if run.out_sent < run.out.len() && self.writable {
            match self
                .transport
                .write(&run.out[run.out_sent..], &mut self.writable)
            {
                Ok(n) => {
                    run.out_sent += n;
                    run.bytes_sent += n as u64;
                    self.tally.bytes_out += n as u64;
                    run.last_sent = ctx.now;
                    progress = true;
                    if run.out_sent == run.out.len() {
                        run.out.clear();
                        run.out_sent = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return (State::Closed, Flow::Continue),
            }
        }

        if matches!(run.phase, Phase::Flushing) && run.out.is_empty() {
            // The script may have changed files that a next request reads.
            crate::handler::file_cache::note_possible_change();
            ctx.stats
                .cgi
                .observe(ctx.now.saturating_duration_since(run.log.started));
            self.log_response(&run.log, run.body_bytes, run.bytes_sent, ctx);
            let keep_alive = run.keep_alive && !ctx.draining;
            if keep_alive && run.body_left > 0 {
                // The script answered before the client finished its body: the head promised
                // keep-alive, so the rest of the body is read and dropped first.
                let CgiRun {
                    request, body_left, ..
                } = *run;
                return (self.drop_body(request, body_left, ctx), Flow::Continue);
            }
            let read_whole = run.body_left == 0;
            return (
                self.after_response(keep_alive, read_whole, ctx),
                Flow::Continue,
            );
        }

        let waiting_for_client = run.out.len() > run.out_sent;
        self.deadline = Some(match run.phase {
            _ if waiting_for_client => run.last_sent + run.send_timeout,
            Phase::Exiting(since) => since + EXIT_GRACE,
            _ => run.last_output + run.cgi_timeout,
        });
        let flow = if progress {
            Flow::Continue
        } else {
            Flow::Blocked
        };
        (State::Cgi(run), flow)
    }

    /// The script failed before its response began: answer `status`, and the script (dropped
    /// with the state) is killed.
    fn cgi_failed(&mut self, request: &Request, status: u16, ctx: &mut Context) -> State {
        ctx.stats.cgi.failures.inc();
        let response = self.error_response(status, Some(request), ctx);
        self.respond(request, response, false, ctx)
    }

    /// The deadline of a CGI exchange passed.
    pub(super) fn cgi_timed_out(&mut self, run: Box<CgiRun>, ctx: &mut Context) -> State {
        let waiting_for_client = run.out.len() > run.out_sent;
        match run.phase {
            // The grace for the exit status is over: the exchange goes on and ends the body.
            Phase::Exiting(_) if !waiting_for_client => State::Cgi(run),
            Phase::Head(_) => {
                log::error(&format!("CGI {}: no output in time", run.request.path));
                self.cgi_failed(&run.request, 504, ctx)
            }
            // The response has begun: all the client can be told is that it is cut short.
            _ => State::Closed,
        }
    }

    fn begin_cgi_response(&mut self, run: &mut CgiRun, head: headers::CgiHead, ctx: &Context) {
        let request = &run.request;
        let with_body = response::status_has_body(head.status) && request.method != Method::Head;
        let framing = match head.content_length {
            Some(length) => OutFraming::Length(length),
            None if request.minor_version >= 1 => OutFraming::Chunked,
            None => OutFraming::Close,
        };
        let head_framing = match framing {
            _ if !response::status_has_body(head.status) => response::Framing::None,
            OutFraming::Length(length) => response::Framing::Length(length),
            OutFraming::Chunked => response::Framing::Chunked,
            _ => response::Framing::None,
        };
        run.framing = if with_body {
            framing
        } else {
            OutFraming::Discard
        };
        run.keep_alive = request.keep_alive && framing != OutFraming::Close;
        let mut response = Response::new(head.status, Body::Empty);
        for (name, value) in head.headers {
            if name.eq_ignore_ascii_case("date") || name.eq_ignore_ascii_case("server") {
                continue;
            }
            response.headers.push((Cow::Owned(name), value));
        }
        if let Some(location) = head.location {
            response.headers.push((Cow::Borrowed("Location"), location));
        }
        self.decorate(&mut response, Some(request), true, ctx);
        let reason = head
            .reason
            .unwrap_or_else(|| handler::pages::reason(head.status).to_string());
        run.log.response_started(&response, || head.content_length);
        response::write_head(
            &mut run.out,
            &response,
            &reason,
            ctx.date,
            head_framing,
            run.keep_alive,
        );
    }
}

impl CgiRun {
    /// Frames and queues body bytes from the script.
    fn add_body(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.out_sent > 0 {
            self.out.drain(..self.out_sent);
            self.out_sent = 0;
        }
        match &mut self.framing {
            OutFraming::Discard => {}
            OutFraming::Length(left) => {
                // Output past the announced length is dropped: the framing is already sent.
                let take = (*left).min(data.len() as u64) as usize;
                self.out.extend_from_slice(&data[..take]);
                *left -= take as u64;
                self.body_bytes += take as u64;
            }
            OutFraming::Chunked => {
                self.out
                    .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                self.out.extend_from_slice(data);
                self.out.extend_from_slice(b"\r\n");
                self.body_bytes += data.len() as u64;
            }
            OutFraming::Close => {
                self.out.extend_from_slice(data);
                self.body_bytes += data.len() as u64;
            }
        }
    }

    /// Ends the body. A script that died leaves the response visibly cut short: no last chunk,
    /// and the connection closes.
    fn finish_body(&mut self, success: bool) {
        match self.framing {
            OutFraming::Chunked if success => self.out.extend_from_slice(b"0\r\n\r\n"),
            OutFraming::Length(0) | OutFraming::Discard if success => {}
            _ => self.keep_alive = false,
        }
    }
}
