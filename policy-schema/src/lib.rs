//! specguard's policy: the versioned JSON contract between the compiler
//! (`specguard compile`) and every enforcement point (the wasm filter and
//! `specguard eval`).
//!
//! - [`model`]: the wire types, strict (`deny_unknown_fields`).
//! - [`schema`]: the normalized JSON Schema IR that operations point into.
//! - [`check`]: structural checks shared by the CLI and the filter.
//! - `compile` (feature `compiler`): annotated OpenAPI 3.0/3.1 to a policy.

pub mod check;
pub mod duration;
pub mod model;
pub mod schema;
pub mod security;

#[cfg(feature = "compiler")]
pub mod compile;

pub use check::{check, CheckError};
pub use model::*;
pub use schema::{Schema, SchemaId, SchemaType};
