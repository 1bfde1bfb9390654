//! What a worker serves with: the configuration, which servers answer on which listen address,
//! the TLS configuration of each TLS address (certificates picked by SNI), and the access log. Replaced whole (never mutated) on reload; a connection keeps the one its
//! request started with.

use super::listener::Listener;
use crate::acme::{self, Challenges};
use crate::config::Config;
use crate::log::Sink;
use crate::transport::{self, AddressOptions, CertSource};
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Runtime {
    /// Shared with the exchanges under way, which keep the one their request started with.
    pub config: Arc<Config>,
    /// For each bound address: the indexes of its servers, the default first.
    routes: Vec<(SocketAddr, Vec<usize>)>,
    /// For each bound TLS address: its rustls configuration.
    tls: Vec<(SocketAddr, Arc<ServerConfig>)>,
    /// The access log files, as `Config::log_files` lists them (None: not a file, `off`).
    pub access_logs: Vec<Option<Sink>>,
    /// Every worker's figures; the same registry across reloads.
    pub metrics: Arc<crate::observe::metrics::Registry>,
    /// The live `limit_req` / `limit_conn` zones, shared by the workers and kept across
    /// reloads while a zone stays the same.
    pub zones: Arc<crate::access::limit::Zones>,
    /// The ACME challenges to answer (HTTP-01), when some server has `acme_certificate`.
    pub acme: Option<Arc<Challenges>>,
}

impl Runtime {
    /// Pairs `config`'s servers with the bound `listeners`, and builds the TLS configuration of
    /// every address listed with `ssl` (`acme`: where the ACME certificates are).
    pub fn new(
        config: Config,
        listeners: &[Arc<Listener>],
        access_logs: Vec<Option<Sink>>,
        acme: &acme::Service,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, String> {
        let challenges = config
            .servers
            .iter()
            .any(|s| s.acme.is_some())
            .then(|| acme.challenges());
        let mut tls = Vec::new();
        for listener in listeners {
            let on_address: Vec<_> = config
                .servers
                .iter()
                .filter(|server| server.ssl.contains(&listener.configured))
                .collect();
            let mut servers = Vec::new();
            for server in &on_address {
                let source = match (&server.tls, &server.acme) {
                    (Some(tls), _) => CertSource::Fixed(Arc::clone(&tls.key)),
                    (None, Some(cert)) => match acme.slot(&config, cert) {
                        Some(slot) => CertSource::Managed(slot),
                        None => return Err("ACME certificate not prepared".to_string()),
                    },
                    (None, None) => continue,
                };
                servers.push((server.server_names.as_slice(), source));
            }
            let options = AddressOptions {
                challenges: on_address
                    .iter()
                    .any(|s| s.acme.is_some())
                    .then(|| acme.challenges()),
                client_auth: on_address
                    .iter()
                    .filter_map(|s| s.client_auth.as_deref())
                    .collect(),
            };
            if let Some(server_config) = transport::server_config(&servers, options)? {
                tls.push((listener.local, server_config));
            }
        }
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
        let metrics = match previous {
            Some(previous) => Arc::clone(&previous.metrics),
            None => Arc::new(crate::observe::metrics::Registry::new(config.workers)),
        };
        let zones = Arc::new(crate::access::limit::Zones::new(
            &config.zones,
            previous.map(|p| &*p.zones),
        ));
        Ok(Runtime {
            metrics,
            zones,
            config: Arc::new(config),
            routes,
            tls,
            access_logs,
            acme: challenges,
        })
    }

    /// The TLS configuration of a bound address; None for plain HTTP.
    pub fn tls_for(&self, local: SocketAddr) -> Option<&Arc<ServerConfig>> {
        self.tls
            .iter()
            .find(|(addr, _)| *addr == local)
            .map(|(_, config)| config)
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
