//! Request handlers: routing, static files, uploads, deletes, error pages.

pub mod pages;
