//! FastCGI (the FastCGI 1.0 specification), the client side: the records both ways
//! (`record`), FastCGI as an upstream kind (`upstream`: the codec the shared upstream pump
//! runs), and the connections kept open to the applications (`pool`, per worker). The
//! parameters a request is sent with are the handler's (`handler::fastcgi`: they come from
//! the route and the configuration's variables); the exchange's part is `exchange::fastcgi`.

pub mod pool;
pub mod record;
pub mod upstream;
