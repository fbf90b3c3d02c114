//! specguard's enforcement engine and (on wasm32) its proxy-wasm host shell.
//!
//! Everything but `host` is plain Rust with no proxy-wasm dependency: it is
//! tested natively and run by `specguard eval`.

pub mod engine;
pub mod identity;
pub mod json;
pub mod params;
pub mod problem;
pub mod routing;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod host;

pub use engine::{Engine, Exchange, RequestHead, Step};
