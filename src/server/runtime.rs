//! What a worker serves with: the configuration, which servers answer on which listen address,
//! and the access log. Replaced whole (never mutated) on reload; a connection keeps the one its
//! request started with.

use super::listener::Listener;
use super::log::Sink;
use crate::config::Config;
use std::net::SocketAddr;

pub struct Runtime {
    pub config: Config,
    /// For each bound address: the indexes of its servers, the default first.
    routes: Vec<(SocketAddr, Vec<usize>)>,
    pub access_log: Option<Sink>,
    /// Some site adds fields to its responses (`add_header`, `expires`): when none does, the
    /// connection need not look its site up again for each response.
    pub decorates: bool,
}

impl Runtime {
    /// Pairs `config`'s servers with the bound `listeners`.
    pub fn new(
        config: Config,
        listeners: &[std::sync::Arc<Listener>],
        access_log: Option<Sink>,
    ) -> Runtime {
        let routes = listeners
            .iter()
            .map(|listener| {
                let servers = config
                    .servers
                    .iter()
                    .enumerate()
                    .filter(|(_, server)| server.listen.contains(&listener.configured))
                    .map(|(i, _)| i)
                    .collect();
                (listener.local, servers)
            })
            .collect();
        let decorates = config.servers.iter().any(|server| {
            std::iter::once(&server.settings)
                .chain(server.locations.iter().map(|l| &l.settings))
                .any(crate::handler::headers::decorates)
        });
        Runtime {
            config,
            routes,
            access_log,
            decorates,
        }
    }

    /// The servers of a bound address, the default first. A listener always has one: it was
    /// bound because a server listed it.
    pub fn servers_for(&self, local: SocketAddr) -> &[usize] {
        self.routes
            .iter()
            .find(|(addr, servers)| *addr == local && !servers.is_empty())
            .map_or(&[0][..], |(_, servers)| servers.as_slice())
    }
}
