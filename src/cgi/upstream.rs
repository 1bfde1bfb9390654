//! CGI as an upstream kind: the script is started with its environment and its pipes become
//! the upstream's endpoint; [`CgiCodec`] parses its header block (RFC 3875 §6, `headers`) into
//! a response head, and its body passes through unchanged both ways.

use super::Script;
use super::env;
use super::headers::{self, CgiHead};
use crate::event::Registration;
use crate::http::request::Request;
use crate::http::response::Head;
use crate::log;
use crate::upstream::process::{Process, Processes, Stdin};
use crate::upstream::{Codec, Endpoint, Timeouts, Upstream};
use std::borrow::Cow;
use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

/// Longest header block a script may print.
pub const HEAD_LIMIT: usize = 32 * 1024;
/// How long after its output ends a script's exit status is awaited. A script that dies closes
/// its output and exits at once; one still running after this closed its output on purpose.
pub const EXIT_GRACE: Duration = Duration::from_millis(200);

/// A script's header block in, its body through.
pub struct CgiCodec;

impl Codec for CgiCodec {
    fn head_limit(&self) -> usize {
        HEAD_LIMIT
    }

    fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String> {
        match headers::parse(input, HEAD_LIMIT) {
            Ok(Some((head, used))) => Ok(Some((response_head(head), used))),
            Ok(None) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// The response head a script asked for: its fields in order (its own Date and Server give way
/// to ours), its Location, its status and reason, and its Content-Length as the body's length.
pub(crate) fn response_head(cgi: CgiHead) -> Head {
    let mut headers = Vec::with_capacity(cgi.headers.len() + 1);
    for (name, value) in cgi.headers {
        if name.eq_ignore_ascii_case("date") || name.eq_ignore_ascii_case("server") {
            continue;
        }
        headers.push((Cow::Owned(name), value.into()));
    }
    if let Some(location) = cgi.location {
        headers.push((Cow::Borrowed("Location"), location.into()));
    }
    Head {
        status: cgi.status,
        reason: cgi.reason,
        headers,
        length: cgi.content_length,
        close: false,
    }
}

/// The command that runs `script`: through its interpreter or directly, in its directory, with
/// `env` only, in a process group of its own (so that killing it also stops what it started).
fn command(script: &Script, env: &[(String, String)]) -> Command {
    let mut command = match &script.interpreter {
        Some(interpreter) => {
            let mut command = Command::new(interpreter);
            command.arg(&script.file);
            command
        }
        None => Command::new(&script.file),
    };
    if let Some(dir) = script.file.parent() {
        command.current_dir(dir);
    }
    command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
}

/// Starts `script` for `request` (its body from `stdin`), its fds registered under
/// `registration`. `cgi_timeout`: the longest silence of the script before its head (504) or
/// within its body (the response is cut). An exec failure (missing interpreter, not
/// executable) is an error here.
#[allow(clippy::too_many_arguments)]
pub fn start(
    request: &Request,
    script: &Script,
    stdin: Stdin,
    origin: &env::Endpoint,
    processes: &Processes,
    registration: &Registration,
    cgi_timeout: Duration,
    now: Instant,
) -> io::Result<Upstream> {
    let piped = matches!(stdin, Stdin::Pipe);
    let environment = env::build(request, script, origin);
    let stderr = log::error_log_file()?;
    let spawned = Process::spawn(command(script, &environment), stdin, stderr, processes)?;
    let endpoint = Endpoint::pipes(spawned, registration)?;
    let timeouts = Timeouts {
        connect: cgi_timeout,
        read: cgi_timeout,
        send: None,
        exit_grace: EXIT_GRACE,
    };
    let label = format!("CGI {}", request.path);
    Ok(Upstream::new(
        endpoint,
        Box::new(CgiCodec),
        label,
        timeouts,
        piped,
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripts_head_becomes_a_response_head_without_its_date_and_server() {
        let block = b"Status: 201 Made\r\nContent-Type: text/plain\r\nDate: x\r\nServer: y\r\n\
                      X-A: 1\r\nContent-Length: 5\r\n\r\nhello";
        let (head, used) = CgiCodec.parse_head(block).unwrap().unwrap();
        assert_eq!(&block[used..], b"hello");
        assert_eq!(head.status, 201);
        assert_eq!(head.reason.as_deref(), Some("Made"));
        assert_eq!(head.length, Some(5));
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(names, ["Content-Type", "X-A"]);
        let redirect = CgiCodec.parse_head(b"Location: /x\n\n").unwrap().unwrap().0;
        assert_eq!(redirect.status, 302);
        assert_eq!(redirect.header("Location"), Some("/x"));
        assert!(CgiCodec.parse_head(b"Status: 200\n").unwrap().is_none());
        assert!(CgiCodec.parse_head(b"bad line\n\n").is_err());
    }
}
