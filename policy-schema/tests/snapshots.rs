//! Compiler snapshot tests: each fixture spec in, the policy JSON and every
//! diagnostic out, compared with the files beside it. Run with
//! `UPDATE_SNAPSHOTS=1` to rewrite them after an intended change, and review
//! the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use specguard_policy::compile::{compile_file, Options};

fn fixture(name: &str) -> PathBuf {
    Path::new("tests/fixtures").join(name)
}

fn check(expected_path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
            expected_path.display()
        )
    });
    if expected != actual {
        panic!(
            "snapshot {} differs (UPDATE_SNAPSHOTS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        );
    }
}

/// Compiles a fixture and snapshots policy + warnings, or the errors.
fn snapshot(name: &str, overlays: &[&str], options: Options) {
    let dir = fixture(name);
    let spec = dir.join("openapi.yaml");
    let overlay_paths: Vec<PathBuf> = overlays.iter().map(|o| dir.join(o)).collect();
    let overlay_refs: Vec<&Path> = overlay_paths.iter().map(PathBuf::as_path).collect();
    match compile_file(&spec, &overlay_refs, &options) {
        Ok(c) => {
            let policy = serde_json::to_string_pretty(&c.policy).unwrap() + "\n";
            // What the compiler writes, the filter reads back unchanged.
            let back = specguard_policy::Policy::from_json(policy.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: policy does not read back: {e}"));
            assert_eq!(back, c.policy, "{name}: policy changes through JSON");
            check(&dir.join("policy.json"), &policy);
            let warnings: String = c.warnings.iter().map(|w| format!("{w}\n")).collect();
            check(&dir.join("diagnostics.txt"), &warnings);
        }
        Err(diags) => {
            let text: String = diags.iter().map(|d| format!("{d}\n")).collect();
            check(&dir.join("diagnostics.txt"), &text);
            assert!(!dir.join("policy.json").exists(), "{name} must not compile");
        }
    }
}

#[test]
fn multi_file_refs_and_recursion() {
    snapshot("multi_file", &[], Options::default());
}

#[test]
fn overlay_applied_before_compiling() {
    snapshot("overlay", &["security-overlay.yaml"], Options::default());
}

#[test]
fn every_error_is_reported_with_file_pointer_and_hint() {
    snapshot("errors", &[], Options::default());
}

#[test]
fn openapi_30_forms() {
    snapshot("openapi30", &[], Options::default());
}

#[test]
fn strict_formats_turns_the_warning_into_an_error() {
    snapshot(
        "strict_formats",
        &[],
        Options {
            strict_formats: true,
            ..Options::default()
        },
    );
}
