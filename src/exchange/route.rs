//! Where a request landed, computed once when its head arrives and owned by its exchange: the
//! configuration in force then (a reload does not move an exchange under way), the index of
//! its server, and its location (an index, and the alias a regular-expression location
//! expanded for it). After the handler's internal redirects (`try_files`, `error_page`), the
//! route follows the request to its final location ([`Route::follow`]).

use crate::config::{Config, LocationId, Settings};
use crate::handler::route::{find_location, site_of};
use crate::handler::{Site, select_server};
use crate::http::request::Request;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Route {
    config: Arc<Config>,
    server: usize,
    /// The location (an index in the server's locations); None: the server's own settings.
    location: Option<LocationId>,
    /// The alias of a regular-expression location, expanded for this request.
    expanded_alias: Option<PathBuf>,
}

impl Route {
    /// The route of `request` among `candidates` (indexes in `config.servers` of the servers
    /// of the address it came to, the default first); without a request (one that could not be
    /// parsed), the default server itself.
    pub fn select(config: &Arc<Config>, candidates: &[usize], request: Option<&Request>) -> Route {
        let default = candidates.first().copied().unwrap_or(0);
        let Some(request) = request else {
            return Route {
                config: Arc::clone(config),
                server: default,
                location: None,
                expanded_alias: None,
            };
        };
        let server = select_server(&config.servers, candidates, request.host.as_deref());
        let site = find_location(server, &request.path).site;
        Route {
            config: Arc::clone(config),
            server: index_of(&config.servers, server).unwrap_or(default),
            location: site.id,
            expanded_alias: site.expanded_alias,
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
        }
    }
}

/// The index of `one` in `all`, which holds it (found by its address: no comparison of
/// contents, no search).
fn index_of<T>(all: &[T], one: &T) -> Option<usize> {
    let size = std::mem::size_of::<T>().max(1);
    let offset = (one as *const T as usize).wrapping_sub(all.as_ptr() as usize);
    let index = offset / size;
    (offset.is_multiple_of(size) && index < all.len() && std::ptr::eq(&all[index], one))
        .then_some(index)
}

#[cfg(test)]
mod tests {
    use super::index_of;

    #[test]
    fn an_element_is_found_by_its_address_and_a_stranger_is_not() {
        let all = [10u64, 20, 30];
        let copy = 20u64;
        assert_eq!(index_of(&all, &all[0]), Some(0));
        assert_eq!(index_of(&all, &all[2]), Some(2));
        assert_eq!(index_of(&all, &copy), None);
        assert_eq!(index_of(&all[..0], &all[0]), None);
    }
}
