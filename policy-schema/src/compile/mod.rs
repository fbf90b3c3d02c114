//! The OpenAPI compiler: annotated OpenAPI 3.0/3.1 (YAML or JSON, one file or
//! many) plus optional OpenAPI Overlay 1.0 documents, into a [`Policy`].
//!
//! Contract (ANNOTATIONS.md): every keyword is either enforced, explicitly an
//! annotation we ignore, or a compile error naming the file, the JSON pointer
//! and the fix. Nothing is dropped silently.

mod diag;
mod loader;
mod openapi;
mod overlay;
mod schema;
mod security;

pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use loader::{Loader, Source};

use std::path::Path;

use crate::model::Policy;

/// Compiler switches from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Unknown `format` values are errors instead of warnings.
    pub strict_formats: bool,
    /// Overrides the base path taken from `servers`.
    pub base_path: Option<String>,
}

/// A successful compilation: the policy and the warnings met on the way.
#[derive(Debug)]
pub struct Compiled {
    pub policy: Policy,
    pub warnings: Vec<Diagnostic>,
}

/// Compiles the spec at `spec` with `overlays` applied in order.
pub fn compile_file(
    spec: &Path,
    overlays: &[&Path],
    options: &Options,
) -> Result<Compiled, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let mut loader = Loader::default();
    let root = match loader.load_root(spec) {
        Ok(id) => id,
        Err(d) => return Err(vec![d]),
    };
    for ov in overlays {
        if let Err(d) = overlay::apply_file(&mut loader, root, ov) {
            return Err(vec![d]);
        }
    }
    let policy = openapi::compile(&mut loader, root, options, &mut diags);
    diags.finish(policy)
}

/// Compiles a spec given as text (YAML or JSON). `path` names it in
/// diagnostics and anchors relative `$ref`s.
pub fn compile_text(
    text: &str,
    path: &Path,
    options: &Options,
) -> Result<Compiled, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let mut loader = Loader::default();
    let root = match loader.load_text(path, &path.display().to_string(), text) {
        Ok(id) => id,
        Err(d) => return Err(vec![d]),
    };
    let policy = openapi::compile(&mut loader, root, options, &mut diags);
    diags.finish(policy)
}
