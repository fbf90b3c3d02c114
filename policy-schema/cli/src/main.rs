//! `specguard`: compile annotated OpenAPI into a policy, evaluate requests
//! offline with the filter's own engine, and generate Envoy configs.

mod envoy;
mod eval;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use specguard_policy::compile::{compile_file, Options, Severity};

#[derive(Parser)]
#[command(
    name = "specguard",
    version,
    about = "API protection from annotated specs (NIST SP 800-228)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile an annotated OpenAPI 3.0/3.1 spec into a policy.
    Compile {
        /// The spec (YAML or JSON); `$ref`s to other files resolve relative to it.
        spec: PathBuf,
        /// OpenAPI Overlay 1.0 documents applied in order before compiling.
        #[arg(long)]
        overlay: Vec<PathBuf>,
        /// Write the policy here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Unknown `format` values are errors.
        #[arg(long)]
        strict_formats: bool,
        /// Base path served by this proxy (overrides `servers`).
        #[arg(long)]
        base_path: Option<String>,
    },
    /// Evaluate requests (and responses) against a policy, offline.
    Eval {
        #[arg(long)]
        policy: PathBuf,
        /// REQ.json: one request object or an array of them.
        #[arg(long)]
        request: PathBuf,
        /// RESP.json: the upstream response for a single request.
        #[arg(long)]
        response: Option<PathBuf>,
        /// The clock, Unix seconds (default: now), for token lifetimes.
        #[arg(long)]
        now: Option<u64>,
    },
    /// Check a policy file (what the filter does at configure time).
    Check { policy: PathBuf },
    /// Write a standalone Envoy bootstrap that runs the filter with a policy.
    EnvoyConfig(envoy::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Compile {
            spec,
            overlay,
            output,
            strict_formats,
            base_path,
        } => {
            let overlays: Vec<&std::path::Path> = overlay.iter().map(PathBuf::as_path).collect();
            let options = Options {
                strict_formats,
                base_path,
            };
            match compile_file(&spec, &overlays, &options) {
                Ok(compiled) => {
                    for w in &compiled.warnings {
                        eprintln!("{w}");
                    }
                    // Load it the way the filter will (key sets, regexes, schema
                    // graph): a policy Envoy would refuse is not written.
                    if let Err(e) = specguard_filter::Engine::new(compiled.policy.clone()) {
                        eprintln!(
                            "error: {}: the compiled policy does not load: {e}",
                            spec.display()
                        );
                        return ExitCode::from(1);
                    }
                    let text = match serde_json::to_string_pretty(&compiled.policy) {
                        Ok(t) => t,
                        Err(e) => {
                            eprintln!("error: cannot serialize the policy: {e}");
                            return ExitCode::from(1);
                        }
                    };
                    match output {
                        Some(path) => {
                            if let Err(e) = std::fs::write(&path, text + "\n") {
                                eprintln!("error: cannot write {}: {e}", path.display());
                                return ExitCode::from(1);
                            }
                            eprintln!(
                                "compiled {} operations, {} schemas into {}",
                                compiled.policy.operations.len(),
                                compiled.policy.schemas.len(),
                                path.display()
                            );
                        }
                        None => println!("{text}"),
                    }
                    ExitCode::SUCCESS
                }
                Err(diags) => {
                    let errors = diags
                        .iter()
                        .filter(|d| d.severity == Severity::Error)
                        .count();
                    for d in &diags {
                        eprintln!("{d}");
                    }
                    eprintln!("{errors} error(s); no policy written");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Eval {
            policy,
            request,
            response,
            now,
        } => eval::run(&policy, &request, response.as_deref(), now),
        Cmd::Check { policy } => {
            let loaded = std::fs::read(&policy)
                .map_err(|e| e.to_string())
                .and_then(|b| specguard_filter::Engine::from_json(&b));
            match loaded {
                Ok(engine) => {
                    println!(
                        "ok: {} operations, {} schemas",
                        engine.policy.operations.len(),
                        engine.policy.schemas.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", policy.display());
                    ExitCode::from(2)
                }
            }
        }
        Cmd::EnvoyConfig(args) => envoy::run(&args),
    }
}
