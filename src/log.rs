//! The error log (server messages) and the log files' sinks (the access log's lines are
//! `observe::access_log`'s).
//!
//! Error-log messages have a level; those less severe than the configured one are dropped,
//! except the "listening on" lines ([`announce`]), which say where the server can be reached.
//! Log files are reopened in place ([`Sink::reopen`]) after logrotate renamed them: the new file
//! takes over the descriptor number every writer already holds.

use crate::config::{LogLevel, LogTarget};
use rustix::fd::AsFd;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where log lines go.
pub enum Sink {
    Stdout,
    Stderr,
    File(File),
}

impl Sink {
    /// Opens a log target; `None` for `off`.
    pub fn open(target: &LogTarget) -> io::Result<Option<Sink>> {
        Ok(match target {
            LogTarget::Off => None,
            LogTarget::Stdout => Some(Sink::Stdout),
            LogTarget::Stderr => Some(Sink::Stderr),
            LogTarget::File(path) => Some(Sink::File(open_append(path)?)),
        })
    }

    /// Points this sink at a fresh open of `target`'s file (created if it is gone). The new
    /// open file takes over this sink's descriptor number, so every holder of the sink (each
    /// worker, the main thread) writes to the new file from the moment this returns, and a
    /// write in flight goes whole to the old file or whole to the new one. Stdout and stderr
    /// are left as they are.
    pub fn reopen(&self, target: &LogTarget) -> io::Result<()> {
        if let (Sink::File(file), LogTarget::File(path)) = (self, target) {
            let fresh = open_append(path)?;
            crate::sys::replace_fd(fresh.as_fd(), file.as_fd())?;
        }
        Ok(())
    }

    pub fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout => io::stdout()
                .lock()
                .write_all(bytes)
                .and_then(|_| io::stdout().flush()),
            Sink::Stderr => io::stderr().lock().write_all(bytes),
            Sink::File(file) => (&*file).write_all(bytes),
        }
    }

    /// A descriptor child processes may write to (CGI stderr). Close-on-exec: the child gets
    /// it as its fd 2 only, and no other worker's child inherits it meanwhile.
    pub fn as_file(&self) -> io::Result<File> {
        let fd = match self {
            Sink::Stdout => io::stdout().as_fd().try_clone_to_owned()?,
            Sink::Stderr => io::stderr().as_fd().try_clone_to_owned()?,
            Sink::File(file) => file.as_fd().try_clone_to_owned()?,
        };
        Ok(File::from(fd))
    }
}

fn open_append(path: &std::path::Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

static ERROR_LOG: Mutex<Option<Sink>> = Mutex::new(None);

/// The least severe level written, as `LogLevel as u8`.
static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Notice as u8);

/// Writes messages of `level` and more severe ones from now on.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether a message of `level` is written.
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Reopens the error log's file (see [`Sink::reopen`]).
pub fn reopen_error_log(target: &LogTarget) -> io::Result<()> {
    match ERROR_LOG.lock() {
        Ok(guard) => match guard.as_ref() {
            Some(sink) => sink.reopen(target),
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

/// Sends server messages to `sink` from now on (stderr until then).
pub fn set_error_log(sink: Sink) {
    if let Ok(mut guard) = ERROR_LOG.lock() {
        *guard = Some(sink);
    }
}

/// A file descriptor onto the error log, for a CGI script's stderr.
pub fn error_log_file() -> io::Result<File> {
    match ERROR_LOG.lock() {
        Ok(guard) => match guard.as_ref() {
            Some(sink) => sink.as_file(),
            None => Sink::Stderr.as_file(),
        },
        Err(_) => Sink::Stderr.as_file(),
    }
}

/// Writes one line to the error log, `2024/01/31 12:00:00 [level] message`, if its level is
/// enabled.
pub fn message(level: LogLevel, text: &str) {
    if enabled(level) {
        write_line(level, text);
    }
}

/// A "listening on" line: written at `notice` whatever the level, since it is how a user (and
/// the tests) learn the port of `listen ...:0`.
pub fn announce(text: &str) {
    write_line(LogLevel::Notice, text);
}

fn write_line(level: LogLevel, text: &str) {
    let line = format!(
        "{} [{}] {text}\n",
        error_log_time(SystemTime::now()),
        level.name()
    );
    let written = match ERROR_LOG.lock() {
        Ok(guard) => match guard.as_ref() {
            Some(sink) => sink.write_all(line.as_bytes()),
            None => Sink::Stderr.write_all(line.as_bytes()),
        },
        Err(_) => Sink::Stderr.write_all(line.as_bytes()),
    };
    // Nowhere left to report a failing error log.
    let _ = written;
}

pub fn error(text: &str) {
    message(LogLevel::Error, text);
}

pub fn warn(text: &str) {
    message(LogLevel::Warn, text);
}

pub fn notice(text: &str) {
    message(LogLevel::Notice, text);
}

pub fn info(text: &str) {
    message(LogLevel::Info, text);
}

/// Broken-down UTC time (the error log's and the access log's timestamps).
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

pub(crate) fn civil(time: SystemTime) -> Civil {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
    }
}

fn error_log_time(time: SystemTime) -> String {
    let c = civil(time);
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `10/Oct/2000:13:55:36 +0000`
pub fn access_log_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(time);
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[(c.month - 1) as usize % 12],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_formatted_in_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(971_185_336); // 2000-10-10 13:42:16 UTC
        assert_eq!(access_log_time(t), "10/Oct/2000:13:42:16 +0000");
        assert_eq!(error_log_time(t), "2000/10/10 13:42:16");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(error_log_time(leap), "2000/02/29 00:00:00");
    }
}
