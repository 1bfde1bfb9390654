//! The reactor's building blocks: an epoll instance, the tokens that name who owns each
//! registered fd, and the timer queue that gives `epoll_wait` its timeout.
//!
//! Every fd is registered edge-triggered for both directions once, and the owner keeps
//! "readable"/"writable" flags that an event sets and an `EAGAIN` clears. So no `epoll_ctl` is
//! needed when a connection switches between reading and writing, and every read or write is
//! still driven by readiness.

mod timers;

/// How a worker holds a listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Only this worker accepts on it.
    Own,
    /// Every worker accepts on it: one pending connection wakes one of them (EPOLLEXCLUSIVE).
    Shared,
}

pub use timers::{Deadline, TimerKey, Timers};

use rustix::event::epoll;
use rustix::fd::{AsFd, OwnedFd};
use std::io;
use std::time::Duration;

/// What kind of owner an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Listener = 1,
    /// A client connection's socket.
    Connection = 2,
    /// One of the fds of an upstream (a backend) that an exchange of a connection owns: the
    /// token's `stream` says which exchange, its `role` which fd.
    Upstream = 3,
    Control = 6,
    /// The file cache's inotify queue.
    FileCache = 7,
    /// An idle keep-alive connection to a backend, in the worker's pool: the token's `slot`
    /// names it there.
    Pooled = 8,
}

/// Which of an upstream's fds an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Not an upstream fd.
    None = 0,
    /// The backend's output: a pipe we read (a script's stdout).
    Read = 1,
    /// The backend's input: a pipe we write (a script's stdin).
    Write = 2,
    /// A socket, read and written.
    Socket = 3,
    /// A child process's pidfd: readable once it has exited.
    Exit = 4,
}

/// Names the owner of an fd: its kind, its slot in the worker's table and the slot's
/// generation, and for an upstream fd the exchange (`stream`) and the fd (`role`). A slot is
/// reused after its owner goes; the generation tells an event meant for the old owner (still in
/// the same `epoll_wait` batch) from one for the new.
///
/// Packed into epoll's 64 bits: kind 4, role 4, generation 20, slot 20, stream 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub role: Role,
    pub slot: u32,
    pub generation: u32,
    pub stream: u16,
}

impl Token {
    pub const GENERATION_BITS: u32 = 20;
    pub const SLOT_BITS: u32 = 20;
    /// Generations wrap within their bits.
    pub const GENERATION_MASK: u32 = (1 << Self::GENERATION_BITS) - 1;
    /// The most slots a worker may have.
    pub const MAX_SLOTS: usize = 1 << Self::SLOT_BITS;

    pub fn new(kind: Kind, slot: u32, generation: u32) -> Token {
        Token {
            kind,
            role: Role::None,
            slot: slot & ((1 << Self::SLOT_BITS) - 1),
            generation: generation & Self::GENERATION_MASK,
            stream: 0,
        }
    }

    /// The token of an upstream fd `role` of exchange `stream` of the connection in `slot`.
    pub fn upstream(slot: u32, generation: u32, stream: u16, role: Role) -> Token {
        Token {
            kind: Kind::Upstream,
            role,
            stream,
            ..Token::new(Kind::Upstream, slot, generation)
        }
    }

    fn to_u64(self) -> u64 {
        (self.kind as u64) << 60
            | (self.role as u64) << 56
            | (self.generation as u64) << 36
            | (self.slot as u64) << 16
            | self.stream as u64
    }

    fn from_u64(value: u64) -> Option<Token> {
        let kind = match (value >> 60) as u8 {
            1 => Kind::Listener,
            2 => Kind::Connection,
            3 => Kind::Upstream,
            6 => Kind::Control,
            7 => Kind::FileCache,
            8 => Kind::Pooled,
            _ => return None,
        };
        let role = match (value >> 56) as u8 & 0xf {
            0 => Role::None,
            1 => Role::Read,
            2 => Role::Write,
            3 => Role::Socket,
            4 => Role::Exit,
            _ => return None,
        };
        Some(Token {
            kind,
            role,
            generation: (value >> 36) as u32 & Self::GENERATION_MASK,
            slot: (value >> 16) as u32 & ((1 << Self::SLOT_BITS) - 1),
            stream: value as u16,
        })
    }
}

/// Where an exchange registers the fds of its upstream: the worker's epoll, and the owner the
/// events must come back to (the connection's slot and generation, the exchange's stream).
#[derive(Clone, Copy)]
pub struct Registration<'a> {
    pub poller: &'a Poller,
    pub slot: u32,
    pub generation: u32,
    pub stream: u16,
}

impl Registration<'_> {
    pub fn token(&self, role: Role) -> Token {
        Token::upstream(self.slot, self.generation, self.stream, role)
    }

    /// Registers `fd` edge-triggered for both directions under `role`.
    pub fn add(&self, fd: impl AsFd, role: Role) -> io::Result<()> {
        self.poller.add(fd, self.token(role))
    }

    /// Registers `fd` level-triggered for input (a pidfd) under `role`.
    pub fn add_readable(&self, fd: impl AsFd, role: Role) -> io::Result<()> {
        self.poller.add_readable(fd, self.token(role))
    }
}

/// One readiness report.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub token: Token,
    pub readable: bool,
    pub writable: bool,
    /// The peer closed its side (EPOLLRDHUP) or the fd hung up (EPOLLHUP).
    pub hangup: bool,
    pub error: bool,
}

/// An epoll instance.
pub struct Poller {
    epoll: OwnedFd,
    events: Vec<epoll::Event>,
}

impl Poller {
    pub fn new(capacity: usize) -> io::Result<Poller> {
        Ok(Poller {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(capacity),
        })
    }

    /// Registers `fd` edge-triggered for input and output.
    pub fn add(&self, fd: impl AsFd, token: Token) -> io::Result<()> {
        let flags = epoll::EventFlags::IN
            | epoll::EventFlags::OUT
            | epoll::EventFlags::RDHUP
            | epoll::EventFlags::ET;
        self.add_with(fd, token, flags)
    }

    /// Registers a listening socket, level-triggered; a socket every worker shares is
    /// registered exclusive, so that one pending connection wakes one worker, not all of them.
    pub fn add_listener(&self, fd: impl AsFd, token: Token, sharing: Sharing) -> io::Result<()> {
        let flags = match sharing {
            Sharing::Own => epoll::EventFlags::IN,
            Sharing::Shared => epoll::EventFlags::IN | epoll::EventFlags::EXCLUSIVE,
        };
        self.add_with(fd, token, flags)
    }

    /// Registers `fd` level-triggered for input only (eventfds, pidfds).
    pub fn add_readable(&self, fd: impl AsFd, token: Token) -> io::Result<()> {
        self.add_with(fd, token, epoll::EventFlags::IN)
    }

    fn add_with(&self, fd: impl AsFd, token: Token, flags: epoll::EventFlags) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token.to_u64()),
            flags,
        )?;
        Ok(())
    }

    /// Gives a registered `fd` (edge-triggered, both directions) a new token: its events go to a
    /// new owner (a pooled backend connection changing hands). Its current readiness is
    /// reported again.
    pub fn modify(&self, fd: impl AsFd, token: Token) -> io::Result<()> {
        let flags = epoll::EventFlags::IN
            | epoll::EventFlags::OUT
            | epoll::EventFlags::RDHUP
            | epoll::EventFlags::ET;
        epoll::modify(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token.to_u64()),
            flags,
        )?;
        Ok(())
    }

    pub fn delete(&self, fd: impl AsFd) -> io::Result<()> {
        epoll::delete(&self.epoll, fd)?;
        Ok(())
    }

    /// Waits for events (at most `timeout`, forever when None) and appends them to `out`.
    pub fn wait(&mut self, timeout: Option<Duration>, out: &mut Vec<Ready>) -> io::Result<()> {
        self.events.clear();
        let timespec = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: t.subsec_nanos() as _,
        });
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut self.events),
            timespec.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for event in &self.events {
            let flags = event.flags;
            let Some(token) = Token::from_u64(event.data.u64()) else {
                continue;
            };
            out.push(Ready {
                token,
                readable: flags.intersects(epoll::EventFlags::IN | epoll::EventFlags::PRI),
                writable: flags.contains(epoll::EventFlags::OUT),
                hangup: flags.intersects(epoll::EventFlags::RDHUP | epoll::EventFlags::HUP),
                error: flags.contains(epoll::EventFlags::ERR),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_the_round_trip_through_epoll_data() {
        for kind in [
            Kind::Listener,
            Kind::Connection,
            Kind::Control,
            Kind::FileCache,
        ] {
            let token = Token::new(kind, 0x000e_beef, 0x000b_cdef);
            assert_eq!(Token::from_u64(token.to_u64()), Some(token));
        }
        for role in [Role::Read, Role::Write, Role::Socket, Role::Exit] {
            for stream in [0, 1, 0xffff] {
                let token = Token::upstream(0x000f_ffff, 0x000f_ffff, stream, role);
                assert_eq!(Token::from_u64(token.to_u64()), Some(token));
            }
        }
    }

    #[test]
    fn generation_and_slot_wrap_within_their_bits() {
        let token = Token::new(Kind::Connection, 1 << 20 | 7, 1 << 20 | 5);
        assert_eq!((token.slot, token.generation), (7, 5));
    }

    #[test]
    fn an_eventfd_write_is_reported_readable_with_its_token() {
        let poller_fd = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap();
        let mut poller = Poller::new(8).unwrap();
        let token = Token::new(Kind::Control, 3, 9);
        poller.add_readable(&poller_fd, token).unwrap();
        rustix::io::write(&poller_fd, &1u64.to_ne_bytes()).unwrap();
        let mut out = Vec::new();
        poller.wait(Some(Duration::from_secs(1)), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].token, token);
        assert!(out[0].readable);
    }
}
