//! FastCGI (the FastCGI 1.0 specification), the client side: the records both ways
//! (`record`), the parameters a request is sent with (`params`), FastCGI as an upstream kind
//! (`upstream`: the codec the shared upstream pump runs), and the connections kept open to the
//! applications (`pool`, per worker). The exchange's part is `exchange::fastcgi`.

pub mod params;
pub mod pool;
pub mod record;
pub mod upstream;
