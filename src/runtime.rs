//! What a worker serves with: the configuration, which servers answer on which listen address
//! and whether it speaks HTTP/2, the TLS configuration of each TLS address (certificates picked
//! by SNI, protocols by ALPN), and the access log. Replaced whole (never mutated) on reload; an
//! exchange keeps the configuration its request started with.

use crate::acme::{self, Challenges};
use crate::config::Config;
use crate::log::Sink;
use crate::site::route::VirtualHosts;
use crate::transport::{self, AddressOptions, CertSource};
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a connection may wait in the kernel for its first bytes before `accept` sees it.
/// One second: the kernel counts it in SYN-ACK retransmissions, the first of which is at 1 s.
pub const DEFER_ACCEPT: Duration = Duration::from_secs(1);

/// A bound listen address: as the configuration gives it, and as bound (its real port, also
/// with `listen ...:0`).
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub configured: SocketAddr,
    pub local: SocketAddr,
}

pub struct Runtime {
    /// Shared with the exchanges under way, which keep the one their request started with.
    pub config: Arc<Config>,
    /// For each bound address: its servers and protocols.
    routes: Vec<Address>,
    /// For each bound TLS address: its rustls configuration.
    tls: Vec<(SocketAddr, Arc<ServerConfig>)>,
    /// The bound addresses whose connections start with a PROXY protocol header.
    proxy_protocol: Vec<SocketAddr>,
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

/// What a bound address serves.
struct Address {
    local: SocketAddr,
    /// Its servers, the default first, and how a Host finds one.
    hosts: VirtualHosts,
    /// HTTP/2 is offered (ALPN `h2` over TLS; the client preface on a plain address).
    http2: bool,
    /// A digest of everything about the address's servers: a reload that changes it sends
    /// its HTTP/2 connections a GOAWAY (their settings and certificate were chosen with the
    /// old one).
    fingerprint: u64,
}

/// Whether an address speaks HTTP/2: its default server decides (`http2`, on by default for a
/// TLS address). nginx decides by the default server too on a plain address, and by the
/// server SNI names over TLS; one ALPN list per address is what rustls offers.
/// The indexes of the servers that listen on `configured`, in the configuration's order.
fn servers_on(config: &Config, configured: SocketAddr) -> Vec<usize> {
    config
        .servers
        .iter()
        .enumerate()
        .filter(|(_, server)| server.listen.contains(&configured))
        .map(|(i, _)| i)
        .collect()
}

fn http2_on(config: &Config, servers: &[usize], configured: SocketAddr) -> bool {
    servers
        .first()
        .and_then(|&i| config.servers.get(i))
        .is_some_and(|server| server.http2_on(configured))
}

fn fingerprint(config: &Config, servers: &[usize]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    for &i in servers {
        format!("{:?}", config.servers[i]).hash(&mut hasher);
    }
    hasher.finish()
}

impl Runtime {
    /// Pairs `config`'s servers with the bound `listeners`, and builds the TLS configuration of
    /// every address listed with `ssl` (`acme`: where the ACME certificates are).
    pub fn new(
        config: Config,
        listeners: &[Listening],
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
            let mut on_address: Vec<_> = config
                .servers
                .iter()
                .filter(|server| server.ssl.contains(&listener.configured))
                .collect();
            // The default server's certificate is the one for unknown names.
            if let Some(i) = on_address
                .iter()
                .position(|s| s.default_server.contains(&listener.configured))
            {
                let default = on_address.remove(i);
                on_address.insert(0, default);
            }
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
            let servers_here = servers_on(&config, listener.configured);
            let options = AddressOptions {
                http2: http2_on(&config, &servers_here, listener.configured),
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
                let servers = servers_on(&config, listener.configured);
                let hosts = VirtualHosts::new(&config.servers, &servers, listener.configured);
                Address {
                    local: listener.local,
                    http2: http2_on(&config, hosts.servers(), listener.configured),
                    fingerprint: fingerprint(&config, hosts.servers()),
                    hosts,
                }
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
        let proxy_protocol = listeners
            .iter()
            .filter(|l| {
                config
                    .servers
                    .iter()
                    .any(|server| server.proxy_protocol.contains(&l.configured))
            })
            .map(|l| l.local)
            .collect();
        Ok(Runtime {
            metrics,
            zones,
            config: Arc::new(config),
            routes,
            tls,
            proxy_protocol,
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

    /// How long the kernel holds a new connection to a bound address until its first bytes
    /// arrive (`TCP_DEFER_ACCEPT`): [`DEFER_ACCEPT`] where the address's default server gives a
    /// head at least twice that long to arrive, else none. The worker takes that wait off the
    /// header timeout of a connection that arrives without bytes, so the timeout stays exact.
    pub fn deferral(&self, local: SocketAddr) -> Duration {
        let server = &self.config.servers[self.servers_for(local)[0]];
        if server.settings.client_header_timeout >= 2 * DEFER_ACCEPT {
            DEFER_ACCEPT
        } else {
            Duration::ZERO
        }
    }

    /// Whether connections to a bound address start with a PROXY protocol header.
    pub fn expects_proxy_header(&self, local: SocketAddr) -> bool {
        self.proxy_protocol.contains(&local)
    }

    /// The servers of a bound address, the default first. A listener always has one: it was
    /// bound because a server listed it.
    pub fn servers_for(&self, local: SocketAddr) -> &[usize] {
        self.address(local)
            .map_or(&[0][..], |address| address.hosts.servers())
    }

    /// The servers of a bound address and how a Host finds one; None for an address no
    /// server listens on (never, for a bound listener).
    pub fn hosts_for(&self, local: SocketAddr) -> Option<&VirtualHosts> {
        self.address(local).map(|address| &address.hosts)
    }

    /// Whether a bound address speaks HTTP/2.
    pub fn http2_for(&self, local: SocketAddr) -> bool {
        self.address(local).is_some_and(|address| address.http2)
    }

    /// A digest of what the servers of a bound address are (see [`Address::fingerprint`]).
    pub fn fingerprint_for(&self, local: SocketAddr) -> u64 {
        self.address(local).map_or(0, |address| address.fingerprint)
    }

    fn address(&self, local: SocketAddr) -> Option<&Address> {
        self.routes
            .iter()
            .find(|address| address.local == local && !address.hosts.servers().is_empty())
    }
}
