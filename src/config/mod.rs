//! Configuration: the nginx-flavoured file format (lexer, parser) and the typed model it yields.

mod model;

pub use model::*;
