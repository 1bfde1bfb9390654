//! What an operator watches: the values of nginx's variables for a request (`vars`).

pub mod vars;

/// A number for a new connection (`$connection`), unique in the process.
pub fn next_connection() -> u64 {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
