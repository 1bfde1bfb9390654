//! Where a request landed, computed once when its head arrives and owned by its exchange: the
//! configuration in force then (a reload does not move an exchange under way), the index of
//! its server, and its location (an index, and the alias a regular-expression location
//! expanded for it). After the handler's internal redirects (`try_files`, `error_page`), the
//! route follows the request to its final location ([`Route::follow`]).

use crate::config::{Config, LocationId, Settings};
use crate::http::request::Request;
use crate::site::route::Site;
use crate::site::route::{HostMatch, VirtualHosts, find_location, site_of};
use std::path::PathBuf;
use std::sync::Arc;

pub struct Route {
    config: Arc<Config>,
    server: usize,
    /// The location (an index in the server's locations); None: the server's own settings.
    location: Option<LocationId>,
    /// The alias of a regular-expression location, expanded for this request.
    expanded_alias: Option<PathBuf>,
    /// The match of the `server_name` expression that chose the server, if it has groups.
    host: Option<HostMatch>,
}

impl Route {
    /// The route of `request` among the servers of the address it came to (`hosts`: None
    /// for an address no server has, never the case for a bound one); without a request (one
    /// that could not be parsed), the default server itself.
    pub fn select(
        config: &Arc<Config>,
        hosts: Option<&VirtualHosts>,
        request: Option<&Request>,
    ) -> Route {
        let default = hosts
            .and_then(|h| h.servers().first().copied())
            .unwrap_or(0);
        let (Some(request), Some(hosts)) = (request, hosts) else {
            return Route {
                config: Arc::clone(config),
                server: default,
                location: None,
                expanded_alias: None,
                host: None,
            };
        };
        let (server, host) = hosts.select(&config.servers, request.host.as_deref());
        let site = find_location(&config.servers[server], &request.path).site;
        Route {
            config: Arc::clone(config),
            server,
            location: site.id,
            expanded_alias: site.expanded_alias,
            host,
        }
    }

    /// Moves the route to where the handler left `request` (`request.routed`, after internal
    /// redirects), as nginx's `$uri` moves: the final location's settings answer.
    pub fn follow(&mut self, request: &Request) {
        let Some(routed) = request.routed else {
            return;
        };
        if routed.location() == self.location {
            return;
        }
        let server = &self.config.servers[self.server];
        let site = site_of(server, routed.location(), &Default::default());
        self.location = site.id;
        self.expanded_alias = site.expanded_alias;
    }

    /// The configuration the request is served with.
    #[inline]
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The settings in force (those of [`Route::site`], without making the whole site).
    #[inline]
    pub fn settings(&self) -> &Settings {
        let server = &self.config.servers[self.server];
        match self.location.and_then(|id| server.locations.get(id)) {
            Some(location) => &location.settings,
            None => &server.settings,
        }
    }

    /// The server, location and settings in force (found again by index: no search).
    #[inline]
    pub fn site(&self) -> Site<'_> {
        let server = &self.config.servers[self.server];
        let location = self.location.and_then(|id| server.locations.get(id));
        Site {
            server,
            location,
            id: location.and(self.location),
            settings: location.map_or(&server.settings, |l| &l.settings),
            expanded_alias: self.expanded_alias.clone(),
            host: self.host.as_ref(),
        }
    }
}
