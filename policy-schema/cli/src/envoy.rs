//! `specguard envoy-config`: a standalone Envoy bootstrap (JSON, which Envoy
//! reads as YAML) with the specguard wasm filter in front of one upstream.
//! The policy travels inline in the plugin configuration: a wasm VM cannot
//! read files.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value};
use specguard_policy::model::{HeaderMode, Policy};
use specguard_policy::security::{JwksSource, SchemeKind};

#[derive(clap::Args)]
pub struct Args {
    /// Compiled policy (omit with --passthrough).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The filter's .wasm file (path as Envoy will open it).
    #[arg(
        long,
        default_value = "target/wasm32-wasip1/release/specguard_filter.wasm"
    )]
    wasm: String,
    /// Listener address.
    #[arg(long, default_value = "127.0.0.1:10000")]
    listen: String,
    /// Upstream address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    upstream: String,
    /// Admin address.
    #[arg(long, default_value = "127.0.0.1:9901")]
    admin: String,
    /// No filter at all (baseline for benchmarks).
    #[arg(long)]
    passthrough: bool,
    /// Load --wasm as a filter without a policy (the no-op floor in benchmarks).
    #[arg(long)]
    bare_wasm: bool,
    /// Serve TLS with this certificate chain (PEM); with --tls-client-ca, mTLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<String>,
    /// Private key for --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<String>,
    /// Require client certificates signed by this CA (PEM): mTLS, which gives
    /// the filter the caller's SPIFFE ID for x-specguard-callers.
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<String>,
    /// Write here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

fn addr(s: &str) -> Result<Value, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not host:port"))?;
    let port: u16 = port.parse().map_err(|_| format!("{s:?}: bad port"))?;
    Ok(json!({"socket_address": {"address": host, "port_value": port}}))
}

fn build(args: &Args) -> Result<Value, String> {
    let mut cfg = build_inner(args)?;
    // Plain HTTP: no transport socket at all.
    let chain = &mut cfg["static_resources"]["listeners"][0]["filter_chains"][0];
    if chain["transport_socket"].is_null() {
        if let Some(m) = chain.as_object_mut() {
            m.remove("transport_socket");
        }
    }
    Ok(cfg)
}

fn build_inner(args: &Args) -> Result<Value, String> {
    let mut http_filters = Vec::new();
    let mut route_timeouts = Vec::new();
    let mut extra_clusters: Vec<Value> = Vec::new();
    if args.bare_wasm {
        http_filters.push(json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "noop",
                    "root_id": "noop",
                    "vm_config": {"vm_id": "noop", "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": args.wasm}}},
                    "allow_on_headers_stop_iteration": true
                }
            }
        }));
    } else if !args.passthrough {
        let path = args
            .policy
            .as_ref()
            .ok_or("--policy is required unless --passthrough")?;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let policy =
            Policy::from_json(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        for scheme in &policy.security.schemes {
            if let SchemeKind::Jwt(j) = &scheme.kind {
                if let JwksSource::Remote {
                    uri,
                    cluster,
                    authority,
                    ..
                } = &j.jwks
                {
                    if !extra_clusters.iter().any(|c| c["name"] == cluster.as_str()) {
                        extra_clusters.push(jwks_cluster(uri, cluster, authority)?);
                    }
                }
            }
        }
        for op in &policy.operations {
            if let Some(ms) = op.limits.timeout_ms {
                route_timeouts.push((op.method.clone(), op.path.clone(), ms));
            }
        }
        // Minified: the policy rides inline in a string.
        let compact = serde_json::to_string(&policy).map_err(|e| e.to_string())?;
        http_filters.push(json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "specguard",
                    "root_id": "specguard",
                    "vm_config": {
                        "vm_id": "specguard",
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": {"local": {"filename": args.wasm}}
                    },
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": compact
                    },
                    // A filter that fails to load must not let traffic through.
                    "failure_policy": "FAIL_CLOSED",
                    // Lets on_http_request_headers hold the request until the body
                    // is checked (policy host.request_headers = hold).
                    "allow_on_headers_stop_iteration": policy.host.request_headers == HeaderMode::Hold
                }
            }
        }));
    }
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    let mut routes: Vec<Value> = route_timeouts
        .iter()
        .map(|(method, path, ms)| {
            let regex = format!(
                "^{}(\\?.*)?$",
                path.split('/')
                    .map(|s| if s.starts_with('{') { "[^/]+".to_string() } else { regex_escape(s) })
                    .collect::<Vec<_>>()
                    .join("/")
            );
            json!({
                "match": {"safe_regex": {"regex": regex}, "headers": [{"name": ":method", "string_match": {"exact": method}}]},
                "route": {"cluster": "upstream", "timeout": format!("{}.{:03}s", ms / 1000, ms % 1000)}
            })
        })
        .collect();
    routes.push(json!({"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}));
    Ok(json!({
        "admin": {"address": addr(&args.admin)?},
        "stats_config": {
            // Turn specguard's dotted metric names into Prometheus labels.
            "stats_tags": [
                {"tag_name": "endpoint", "regex": "(\\.endpoint=([^.]+))"},
                {"tag_name": "class", "regex": "(\\.class=([^.]+))"},
                {"tag_name": "code", "regex": "(\\.code=([^.]+))"}
            ]
        },
        "static_resources": {
            "listeners": [{
                "name": "specguard_listener",
                "address": addr(&args.listen)?,
                "filter_chains": [{
                    "transport_socket": downstream_tls(args),
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "ingress",
                            // Resolve dot segments before anything matches on the path.
                            "normalize_path": true,
                            "route_config": {
                                "name": "specguard_routes",
                                "virtual_hosts": [{"name": "api", "domains": ["*"], "routes": routes}]
                            },
                            "http_filters": http_filters
                        }
                    }]
                }]
            }],
            "clusters": std::iter::once(json!({
                "name": "upstream",
                "type": "STATIC",
                "connect_timeout": "2s",
                "load_assignment": {
                    "cluster_name": "upstream",
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": addr(&args.upstream)?}}]}]
                }
            })).chain(extra_clusters).collect::<Vec<_>>()
        }
    }))
}

/// The listener's TLS (mTLS when a client CA is given), or null for plain HTTP.
fn downstream_tls(args: &Args) -> Value {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Value::Null;
    };
    let mut ctx = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}]
        }
    });
    if let Some(ca) = &args.tls_client_ca {
        ctx["require_client_certificate"] = json!(true);
        ctx["common_tls_context"]["validation_context"] = json!({"trusted_ca": {"filename": ca}});
    }
    json!({"name": "envoy.transport_sockets.tls", "typed_config": ctx})
}

/// The cluster the filter fetches a remote JWKS through (`dispatch_http_call`).
fn jwks_cluster(uri: &str, name: &str, authority: &str) -> Result<Value, String> {
    let tls = uri.starts_with("https://");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>().map_err(|_| format!("{uri}: bad port"))?,
        ),
        None => (authority.to_string(), if tls { 443 } else { 80 }),
    };
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let mut c = json!({
        "name": name,
        "type": if is_ip { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "2s",
        "dns_lookup_family": "V4_PREFERRED",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}]
        }
    });
    if tls {
        c["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
                // Keys fetched over an unverified connection prove nothing.
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": {"filename": "/etc/ssl/certs/ca-certificates.crt"},
                        "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": host}}]
                    }
                }
            }
        });
    }
    Ok(c)
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

pub fn run(args: &Args) -> ExitCode {
    match build(args).and_then(|v| serde_json::to_string_pretty(&v).map_err(|e| e.to_string())) {
        Ok(text) => match &args.output {
            Some(p) => match std::fs::write(p, text + "\n") {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}: {e}", p.display());
                    ExitCode::from(1)
                }
            },
            None => {
                println!("{text}");
                ExitCode::SUCCESS
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
