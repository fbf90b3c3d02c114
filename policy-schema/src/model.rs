//! The policy wire format. Every type refuses unknown fields: a policy written
//! by a newer compiler is refused by an older filter instead of being half
//! enforced. `version` must equal [`POLICY_VERSION`].

use serde::{Deserialize, Serialize};

use crate::schema::{Schema, SchemaId};

/// The policy format version this build reads and writes.
pub const POLICY_VERSION: u32 = 1;

/// A compiled policy: everything an enforcement point needs, nothing it must
/// resolve (all `$ref`s are schema indices, all sizes are bytes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Must be [`POLICY_VERSION`].
    pub version: u32,
    /// Where the policy came from (for logs and the inventory).
    pub info: Info,
    /// How the filter sits in the proxy.
    #[serde(default)]
    pub host: HostSettings,
    /// Root `x-specguard-mode`: applies to requests that match no operation.
    #[serde(default)]
    pub mode: Mode,
    /// Security schemes, caller classes and identity headers.
    #[serde(default)]
    pub security: crate::security::Security,
    /// Every operation of the API. Requests matching none are refused (404/405)
    /// and counted as shadow traffic.
    pub operations: Vec<Operation>,
    /// The schema table; operations, parameters and schemas refer into it by index.
    pub schemas: Vec<Schema>,
}

/// Provenance of the policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Info {
    /// `info.title` of the spec.
    pub title: String,
    /// `info.version` of the spec.
    pub api_version: String,
    /// The spec file the policy was compiled from (as given on the command line).
    pub source: String,
    /// Root `x-owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// `x-owner`: who answers for an API or operation (REC-API-4 inventory).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// Settings about the proxy the filter runs in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// `hold` (default): request headers are held until the body has been
    /// checked, so a refused request never reaches the upstream. Needs Envoy's
    /// `allow_on_headers_stop_iteration: true` on the wasm PluginConfig.
    /// `forward`: headers go upstream at once and a refused body resets the
    /// stream (for hosts that cannot set that field, e.g. Istio's WasmPlugin).
    pub request_headers: HeaderMode,
}

impl Default for HostSettings {
    fn default() -> Self {
        Self {
            request_headers: HeaderMode::Hold,
        }
    }
}

/// See [`HostSettings::request_headers`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HeaderMode {
    Hold,
    Forward,
}

/// `x-specguard-mode`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Refuse what the policy refuses.
    #[default]
    Enforce,
    /// Evaluate everything, log and count what would be refused, let it through.
    Monitor,
}

/// One operation: method + path template and what it accepts and returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// `operationId`, or `METHOD /path` when the spec gives none. Unique.
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template as in the spec (`/orders/{orderId}`), server base path included.
    pub path: String,
    pub mode: Mode,
    /// `x-internal` on the operation: callers not classed internal are
    /// answered exactly as for a path that does not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// `security`: alternatives (any one passes); empty = public.
    #[serde(default)]
    pub security: Vec<crate::security::Requirement>,
    /// `x-specguard-callers`: SPIFFE IDs allowed to call; empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callers: Vec<String>,
    /// Path, query, header and cookie parameters (path-item and operation level merged).
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    /// Declared responses. A status or media type not declared here is refused.
    pub responses: Vec<Response>,
    pub limits: Limits,
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    Path,
    Query,
    Header,
    Cookie,
}

/// OpenAPI serialization `style`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ParamStyle {
    Simple,
    Form,
    Label,
    Matrix,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
}

/// A parameter with its schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// Name as sent (header names are lower-cased by the compiler).
    pub name: String,
    #[serde(rename = "in")]
    pub location: ParamLocation,
    pub required: bool,
    /// `x-internal`: refused from callers not classed internal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    pub style: ParamStyle,
    pub explode: bool,
    /// Schema the decoded value must satisfy.
    pub schema: SchemaId,
}

/// `requestBody`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    pub required: bool,
    /// Declared media types; a request with another Content-Type gets 415.
    pub content: Vec<MediaType>,
}

/// One declared media type (`application/json`, `application/*+json`, `text/plain`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MediaType {
    /// Lower-case media range as declared, parameters dropped.
    pub media_type: String,
    /// Schema for JSON bodies; `None` when the spec declares none (any JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaId>,
    /// How the body is treated.
    pub handling: BodyHandling,
}

/// What the enforcement point does with a body of this media type.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyHandling {
    /// Parsed as JSON (strictly) and validated against the schema.
    Json,
    /// Cannot be validated; size-limited and let through
    /// (`x-specguard-unvalidated-media: allow`, and always for responses).
    PassUnvalidated,
    /// Cannot be validated and not allowed: refused (requests only).
    Refuse,
}

/// A declared response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// `200`, `2XX` or `default`.
    pub status: String,
    /// Declared media types; empty means the response must carry no body.
    #[serde(default)]
    pub content: Vec<MediaType>,
}

/// `x-specguard-limits`, resolved (operation over root over built-in defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, bytes (413 above).
    pub request_body: u64,
    /// Largest response body, bytes (502 above).
    pub response_body: u64,
    /// Deepest JSON nesting accepted.
    pub json_depth: u32,
    /// Most object keys in one JSON document (all objects together).
    pub json_keys: u32,
    /// Longest JSON string (keys and values), in bytes.
    pub string_length: u32,
    /// Most items in one JSON array.
    pub array_items: u32,
    /// Route timeout for the generated Envoy config, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Circuit-breaker concurrency for the generated Envoy config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

impl Default for Limits {
    /// Built-in defaults: the values ANNOTATIONS.md shows, applied when a spec
    /// says nothing (an unbounded API is not an option, REC-API-15-3).
    fn default() -> Self {
        Self {
            request_body: 1 << 20,
            response_body: 4 << 20,
            json_depth: 32,
            json_keys: 1000,
            string_length: 65536,
            array_items: 10000,
            timeout_ms: None,
            concurrency: None,
        }
    }
}

impl Policy {
    /// Parses and checks a policy: stage 1 of configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Policy, crate::CheckError> {
        let policy: Policy =
            serde_json::from_slice(bytes).map_err(|e| crate::CheckError::Parse(e.to_string()))?;
        crate::check(&policy)?;
        Ok(policy)
    }
}
