//! Client-facing refusals: `application/problem+json` (RFC 9457) with a
//! stable `code` and nothing else. Never the input, never internals (seed
//! section 2.5); the detail goes to the log only.

use serde_json::json;

/// A refusal the enforcement point sends instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    /// Send `WWW-Authenticate: Bearer error="invalid_token"` (401s).
    pub challenge: bool,
    /// Stable machine-readable code (documented in the README).
    pub code: &'static str,
    /// For logs only: what failed and where (pointer, keyword, schema origin).
    /// Never sent to the client.
    pub detail: String,
}

impl Reject {
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Reject {
        Reject {
            status,
            challenge: false,
            code,
            detail: detail.into(),
        }
    }

    /// 401: no acceptable credential. The challenge says only that the
    /// token was not accepted, never why (the log has the reason).
    pub fn unauthenticated(detail: impl Into<String>) -> Reject {
        Reject {
            status: 401,
            challenge: true,
            code: "unauthenticated",
            detail: detail.into(),
        }
    }

    /// The generic title for the status, as RFC 9110 names it.
    pub fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            429 => "Too Many Requests",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Error",
        }
    }

    /// The response body sent to the client.
    pub fn body(&self) -> Vec<u8> {
        json!({
            "type": "about:blank",
            "title": self.title(),
            "status": self.status,
            "code": self.code,
        })
        .to_string()
        .into_bytes()
    }

    /// Response headers besides `:status`.
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut h = vec![
            ("content-type", "application/problem+json"),
            ("cache-control", "no-store"),
        ];
        if self.challenge {
            h.push(("www-authenticate", "Bearer error=\"invalid_token\""));
        }
        h
    }
}
