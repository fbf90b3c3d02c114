//! Test harness for specguard against a real Envoy: a recording upstream, an
//! Envoy process running the wasm filter with a compiled policy, and a small
//! HTTP/1.1 client. Everything binds to 127.0.0.1; every wait is bounded.
//!
//! Environment (set by `make test-integration`): `SPECGUARD_ENVOY` (the Envoy
//! command, e.g. `.venv/envoy` or `func-e run`), `SPECGUARD_WASM`,
//! `SPECGUARD_CLI`.
// Test and benchmark code: a failed expectation should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod http;
pub mod upstream;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use http::{request, request_with_pause, Response};
pub use upstream::{Recorded, Scripted, Upstream};

/// Repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

pub fn cli() -> PathBuf {
    PathBuf::from(env_or(
        "SPECGUARD_CLI",
        &repo_root()
            .join("target/release/specguard")
            .display()
            .to_string(),
    ))
}

pub fn wasm() -> String {
    env_or(
        "SPECGUARD_WASM",
        &repo_root()
            .join("target/wasm32-wasip1/release/specguard_filter.wasm")
            .display()
            .to_string(),
    )
}

pub fn envoy_command() -> Vec<String> {
    env_or(
        "SPECGUARD_ENVOY",
        &repo_root().join(".venv/envoy").display().to_string(),
    )
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "specguard-it-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles a spec with the CLI; panics with its diagnostics on failure.
pub fn compile(spec: &Path, out: &Path) {
    let o = Command::new(cli())
        .arg("compile")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run specguard compile");
    assert!(
        o.status.success(),
        "compile failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A running Envoy with specguard in front of an upstream.
pub struct Envoy {
    child: Child,
    pub port: u16,
    pub admin: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Envoy {
    /// Starts Envoy with `policy` in front of `upstream_port`, or without the
    /// filter when `policy` is `None`. Waits (bounded) until it is ready.
    pub fn start(policy: Option<&Path>, upstream_port: u16) -> Envoy {
        Envoy::start_with(policy, upstream_port, &[])
    }

    /// Like [`Envoy::start`], with extra `specguard envoy-config` arguments.
    pub fn start_with(policy: Option<&Path>, upstream_port: u16, config_args: &[&str]) -> Envoy {
        let dir = TempDir::new("envoy");
        let port = free_port();
        let admin = free_port();
        let config = dir.0.join("envoy.yaml");
        let mut gen = Command::new(cli());
        gen.arg("envoy-config")
            .arg("--wasm")
            .arg(wasm())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--upstream")
            .arg(format!("127.0.0.1:{upstream_port}"))
            .arg("--admin")
            .arg(format!("127.0.0.1:{admin}"))
            .arg("-o")
            .arg(&config);
        match policy {
            Some(p) => gen.arg("--policy").arg(p),
            None => gen.arg("--passthrough"),
        };
        gen.args(config_args);
        let o = gen.output().expect("run specguard envoy-config");
        assert!(
            o.status.success(),
            "envoy-config failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let log = dir.0.join("envoy.log");
        let cmd = envoy_command();
        let child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .arg("-c")
            .arg(&config)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
                "--component-log-level",
                "wasm:info",
            ])
            .arg("--log-path")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start envoy (run `make envoy`, or set SPECGUARD_ENVOY)");
        let mut e = Envoy {
            child,
            port,
            admin,
            log,
            _dir: dir,
        };
        e.wait_ready();
        e
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("envoy exited early ({status}); log:\n{}", self.log_text());
            }
            if let Ok(r) = request(self.admin, "GET", "/ready", &[], b"") {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("envoy not ready within 30s; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a request through Envoy.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.port, method, path, headers, body).expect("request through envoy")
    }

    /// Sends a chunked request whose second chunk comes 300 ms after the first.
    pub fn send_slow(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut h = headers.to_vec();
        h.push(("transfer-encoding", "chunked"));
        request_with_pause(
            self.port,
            method,
            path,
            &h,
            body,
            Some(Duration::from_millis(300)),
        )
        .expect("request through envoy")
    }

    /// The value of a counter in Envoy's `/stats` (0 when absent).
    pub fn counter(&self, name: &str) -> u64 {
        let r =
            request(self.admin, "GET", "/stats?filter=specguard", &[], b"").expect("admin stats");
        let text = String::from_utf8_lossy(&r.body).into_owned();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}: "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `envoy --mode validate` on a config; returns (success, output).
pub fn envoy_validate(config: &Path) -> (bool, String) {
    let cmd = envoy_command();
    let o = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(config)
        .output()
        .expect("run envoy --mode validate");
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}
