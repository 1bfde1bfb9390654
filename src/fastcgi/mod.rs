//! FastCGI (the FastCGI 1.0 specification), the client side: the records both ways
//! (`record`) and the parameters a request is sent with (`params`). Both are pure; the exchange
//! with the application runs on the shared upstream pipeline.

pub mod params;
pub mod record;
