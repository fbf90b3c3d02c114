//! A real HTTP/1.1 upstream on 127.0.0.1 that records every complete request
//! it receives and answers with a response scripted per test id
//! (`x-test-id` request header), so tests assert both what the client got
//! and what the upstream saw.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::dechunk;

/// A request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A canned response.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Scripted {
    pub fn json(status: u16, body: serde_json::Value) -> Scripted {
        Scripted {
            status,
            content_type: Some("application/json".into()),
            body: body.to_string().into_bytes(),
        }
    }
}

#[derive(Default)]
struct State {
    /// Responses by request path (without query), for requests without a test id.
    by_path: HashMap<String, Scripted>,
    /// `x-test-id` of every request whose headers arrived, complete or not.
    heads: Vec<String>,
    seen: Vec<Recorded>,
    scripts: HashMap<String, Scripted>,
}

pub struct Upstream {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || serve(conn, st));
            }
        });
        Upstream { port, state }
    }

    /// Answer requests carrying `x-test-id: id` with `resp`.
    pub fn script(&self, id: &str, resp: Scripted) {
        self.state
            .lock()
            .expect("lock")
            .scripts
            .insert(id.to_string(), resp);
    }

    /// Answer requests for `path` (no `x-test-id` needed) with `resp`.
    pub fn serve_path(&self, path: &str, resp: Scripted) {
        self.state
            .lock()
            .expect("lock")
            .by_path
            .insert(path.to_string(), resp);
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .expect("lock")
            .seen
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Requests received with `x-test-id: id`.
    pub fn received(&self, id: &str) -> Vec<Recorded> {
        self.state
            .lock()
            .expect("lock")
            .seen
            .iter()
            .filter(|r| r.header("x-test-id") == Some(id))
            .cloned()
            .collect()
    }

    /// How many requests with `x-test-id: id` got as far as their headers
    /// reaching the upstream (bodies may never have followed).
    pub fn touched(&self, id: &str) -> usize {
        self.state
            .lock()
            .expect("lock")
            .heads
            .iter()
            .filter(|h| *h == id)
            .count()
    }

    pub fn total(&self) -> usize {
        self.state.lock().expect("lock").seen.len()
    }
}

fn serve(conn: TcpStream, st: Arc<Mutex<State>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    // Keep-alive: Envoy reuses upstream connections.
    for _ in 0..10_000 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_string(), path.to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        st.lock()
            .expect("lock")
            .heads
            .push(get("x-test-id").unwrap_or_default());
        let body = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut raw = Vec::new();
            loop {
                let mut size_line = String::new();
                if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                    return;
                }
                raw.extend_from_slice(size_line.as_bytes());
                let size =
                    usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                        .unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
                raw.extend_from_slice(&chunk);
                if size == 0 {
                    break;
                }
            }
            dechunk(&raw).unwrap_or_default()
        } else {
            let n: usize = get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut b = vec![0; n];
            if reader.read_exact(&mut b).is_err() {
                return;
            }
            b
        };
        let id = get("x-test-id").unwrap_or_default();
        let resp = {
            let mut s = st.lock().expect("lock");
            let by_path = s
                .by_path
                .get(path.split('?').next().unwrap_or_default())
                .cloned();
            s.seen.push(Recorded {
                method,
                path,
                headers: headers.clone(),
                body,
            });
            s.scripts.get(&id).cloned().or(by_path)
        };
        let resp = resp.unwrap_or_else(|| Scripted::json(200, serde_json::json!({"status": "ok"})));
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            resp.status,
            resp.body.len()
        );
        if let Some(ct) = &resp.content_type {
            out.push_str(&format!("content-type: {ct}\r\n"));
        }
        out.push_str("\r\n");
        if writer.write_all(out.as_bytes()).is_err() || writer.write_all(&resp.body).is_err() {
            return;
        }
    }
}
