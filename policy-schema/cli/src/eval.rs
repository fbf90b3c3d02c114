//! `specguard eval`: drives the filter's engine with requests from a file,
//! in the same callback order Envoy uses, and prints one JSON line each.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Map, Value};
use specguard_filter::{Engine, RequestHead, Step};

fn bad(msg: String) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

/// `body` (raw text) or `json` (a value, serialized) of a message object.
fn body_of(o: &Map<String, Value>, what: &str) -> Result<Vec<u8>, String> {
    match (o.get("body"), o.get("json")) {
        (Some(_), Some(_)) => Err(format!("{what}: give either body or json, not both")),
        (Some(Value::String(s)), None) => Ok(s.clone().into_bytes()),
        (Some(_), None) => Err(format!("{what}: body must be a string")),
        (None, Some(v)) => Ok(v.to_string().into_bytes()),
        (None, None) => Ok(Vec::new()),
    }
}

fn headers_of(o: &Map<String, Value>, what: &str) -> Result<Vec<(String, String)>, String> {
    match o.get("headers") {
        None => Ok(Vec::new()),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.to_ascii_lowercase(), s.clone())),
                _ => Err(format!("{what}: header {k:?} must be a string")),
            })
            .collect(),
        Some(_) => Err(format!("{what}: headers must be an object")),
    }
}

struct Outcome {
    decision: &'static str,
    status: Option<u16>,
    code: &'static str,
    response: Option<Value>,
    monitored: Vec<&'static str>,
    operation: Option<String>,
    identity: Option<Value>,
}

fn client_view(status: u16, headers: &[(String, String)], body: &[u8]) -> Value {
    let h: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut out = json!({"status": status, "headers": h});
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if !body.is_empty() => out["json"] = v,
        _ => out["body"] = Value::String(String::from_utf8_lossy(body).into_owned()),
    }
    out
}

fn refusal_view(r: &specguard_filter::problem::Reject) -> Value {
    let headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    client_view(r.status, &headers, &r.body())
}

fn evaluate(
    engine: &Engine,
    req: &Value,
    resp: Option<&Value>,
    i: usize,
    now: u64,
) -> Result<Outcome, String> {
    let what = format!("request {i}");
    let o = req
        .as_object()
        .ok_or_else(|| format!("{what}: must be an object"))?;
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "method" | "path" | "headers" | "body" | "json" | "response" | "peer"
        ) {
            return Err(format!("{what}: unknown field {k:?}"));
        }
    }
    let method = o
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: method is required"))?;
    let path = o
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: path is required"))?;
    let mut headers = headers_of(o, &what)?;
    let body = body_of(o, &what)?;
    if o.contains_key("json") && !headers.iter().any(|(k, _)| k == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let resp = resp.or(o.get("response"));
    let peer_uri_san = match o.get("peer") {
        None => None,
        Some(Value::Object(p)) => {
            for k in p.keys() {
                if k != "uri_san" {
                    return Err(format!(
                        "{what}: peer: unknown field {k:?} (peer has uri_san)"
                    ));
                }
            }
            match p.get("uri_san") {
                Some(Value::String(s)) => Some(s.clone()),
                None => None,
                Some(_) => return Err(format!("{what}: peer.uri_san must be a string")),
            }
        }
        Some(_) => return Err(format!("{what}: peer must be an object")),
    };
    let head = RequestHead {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        headers,
        now,
        peer_uri_san,
    };
    let deny = |r: specguard_filter::problem::Reject, ex: &specguard_filter::Exchange| Outcome {
        decision: "deny",
        status: Some(r.status),
        code: r.code,
        response: resp.map(|_| refusal_view(&r)),
        monitored: ex.monitored.iter().map(|m| m.code).collect(),
        operation: engine.operation_id(ex).map(str::to_string),
        identity: None,
    };
    let (mut ex, step) = engine.request_headers(&head, !body.is_empty());
    if let Step::Deny(r) = step {
        return Ok(deny(r, &ex));
    }
    if ex.wants_request_body {
        if let Step::Deny(r) = engine.request_body(&mut ex, &body) {
            return Ok(deny(r, &ex));
        }
    }
    let mut status = None;
    let mut response = None;
    if let Some(rv) = resp {
        let what = format!("response {i}");
        let ro = rv
            .as_object()
            .ok_or_else(|| format!("{what}: must be an object"))?;
        for k in ro.keys() {
            if !matches!(k.as_str(), "status" | "headers" | "body" | "json") {
                return Err(format!("{what}: unknown field {k:?}"));
            }
        }
        let code = ro
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| format!("{what}: status must be an HTTP status code"))?;
        let mut rh = headers_of(ro, &what)?;
        let rbody = body_of(ro, &what)?;
        if ro.contains_key("json") && !rh.iter().any(|(k, _)| k == "content-type") {
            rh.push(("content-type".into(), "application/json".into()));
        }
        let ct = rh
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.clone());
        let step = engine.response_headers(&mut ex, code, ct.as_deref(), !rbody.is_empty());
        if let Step::Deny(r) = step {
            return Ok(deny(r, &ex));
        }
        let mut final_body = rbody.clone();
        if ex.wants_response_body {
            match engine.response_body(&mut ex, &rbody) {
                Step::Deny(r) => return Ok(deny(r, &ex)),
                Step::Rewrite(b) => {
                    rh.retain(|(k, _)| k != "content-length");
                    final_body = b;
                }
                Step::Continue => {}
            }
        }
        status = Some(code);
        response = Some(client_view(code, &rh, &final_body));
    }
    Ok(Outcome {
        decision: "allow",
        status,
        code: if ex.monitored.is_empty() {
            "allowed"
        } else {
            "monitored"
        },
        response,
        monitored: ex.monitored.iter().map(|m| m.code).collect(),
        operation: engine.operation_id(&ex).map(str::to_string),
        identity: ex.caller.as_ref().map(|c| {
            let forwarded: serde_json::Map<String, Value> = ex
                .header_ops
                .iter()
                .filter_map(|op| match op {
                    specguard_filter::identity::HeaderOp::Set(k, v) => {
                        Some((k.clone(), Value::String(v.clone())))
                    }
                    specguard_filter::identity::HeaderOp::Remove(_) => None,
                })
                .collect();
            json!({
                "subject": c.subject,
                "class": if c.internal { "internal" } else { "external" },
                "service": c.service,
                "permissions": c.permissions,
                "api_key": c.api_key,
                "forwarded_headers": forwarded,
            })
        }),
    })
}

pub fn run(policy: &Path, request: &Path, response: Option<&Path>, now: Option<u64>) -> ExitCode {
    let now = now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let engine = match std::fs::read(policy)
        .map_err(|e| format!("{}: {e}", policy.display()))
        .and_then(|b| Engine::from_json(&b).map_err(|e| format!("{}: {e}", policy.display())))
    {
        Ok(e) => e,
        Err(e) => return bad(e),
    };
    let reqs = match read_json(request) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let resp = match response.map(read_json).transpose() {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let list: Vec<Value> = match reqs {
        Value::Array(a) => {
            if resp.is_some() {
                return bad("--response goes with a single request; put a \"response\" in each request of an array".into());
            }
            a
        }
        other => vec![other],
    };
    let mut lines = Vec::new();
    for (i, r) in list.iter().enumerate() {
        match evaluate(&engine, r, resp.as_ref(), i, now) {
            Ok(o) => {
                let mut line = json!({
                    "decision": o.decision,
                    "status": o.status,
                    "code": o.code,
                    "operation": o.operation,
                });
                if let Some(resp) = o.response {
                    line["response"] = resp;
                }
                if !o.monitored.is_empty() {
                    line["monitored"] = json!(o.monitored);
                }
                if let Some(id) = o.identity {
                    line["identity"] = id;
                }
                lines.push(line);
            }
            Err(e) => return bad(e),
        }
    }
    for l in lines {
        println!("{l}");
    }
    ExitCode::SUCCESS
}
