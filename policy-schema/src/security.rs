//! Identity and endpoint authorization in the policy (ANNOTATIONS.md
//! section 2; REC-API-11, 12, 14, 19.1): security schemes, the caller
//! classes later controls use, and the headers the upstream receives.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything identity-related the enforcement point needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// `components.securitySchemes` that requirements refer to, by index.
    #[serde(default)]
    pub schemes: Vec<SecurityScheme>,
    /// `x-specguard-caller-classes`: who is `internal`; everyone else is `external`.
    #[serde(default)]
    pub internal: CallerClass,
    /// Headers carrying the verified identity to the upstream.
    #[serde(default)]
    pub headers: IdentityHeaders,
}

/// One security scheme.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecurityScheme {
    /// The scheme's name in `components.securitySchemes`.
    pub name: String,
    /// What it is and how it is checked.
    #[serde(rename = "scheme")]
    pub kind: SchemeKind,
}

/// How a scheme authenticates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchemeKind {
    /// Bearer JWTs (`http`/`bearer`, `oauth2`, `openIdConnect` with `x-specguard-jwt`).
    Jwt(Box<JwtScheme>),
    /// API keys identifying the calling software (`apiKey` with `x-specguard-api-keys`).
    ApiKey(ApiKeyScheme),
}

/// `x-specguard-jwt`, resolved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtScheme {
    /// Required `iss`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `aud` must contain one of these, when not empty.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accepted `alg` values (`none` never is).
    pub algorithms: Vec<String>,
    pub jwks: JwksSource,
    /// Longest accepted `exp - iat`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_s: Option<u64>,
    /// Tolerated clock difference, seconds.
    pub clock_skew_s: u64,
    /// Claim holding the caller's permissions: a space-separated string or an array.
    pub permissions_claim: String,
    /// Header carrying `Bearer <token>` (lower-case).
    pub header: String,
    /// Query parameter carrying the token, only when the spec declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// Where verification keys come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum JwksSource {
    /// A JWK Set embedded in the policy (`inline`, or `file` read by the compiler).
    Inline { keys: Value },
    /// Fetched through an Envoy cluster at start and every `refresh_s`.
    Remote {
        uri: String,
        cluster: String,
        authority: String,
        path: String,
        refresh_s: u64,
    },
}

/// `x-specguard-api-keys`: keys stored as SHA-256 hashes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyScheme {
    /// `header` or `query`.
    #[serde(rename = "in")]
    pub location: ApiKeyLocation,
    /// Header (lower-case) or query parameter name.
    pub param: String,
    pub keys: Vec<ApiKey>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyLocation {
    Header,
    Query,
}

/// One API key: the calling software's id and the key's SHA-256 (hex).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub id: String,
    pub sha256: String,
}

/// Who counts as `internal`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CallerClass {
    #[serde(default)]
    pub spiffe_trust_domains: Vec<String>,
    #[serde(default)]
    pub issuers: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Headers the upstream receives (seed section 2.7: canonical identity).
/// Every request header starting with `strip_prefix`, and the ones named
/// here, is removed before the verified values are set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityHeaders {
    pub strip_prefix: String,
    pub subject: String,
    pub caller_class: String,
    pub service: String,
    pub permissions: String,
    pub api_key_id: String,
    /// Forward the caller's token to the upstream (default: removed).
    pub forward_token: bool,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            strip_prefix: "x-specguard-".into(),
            subject: "x-specguard-subject".into(),
            caller_class: "x-specguard-caller-class".into(),
            service: "x-specguard-service".into(),
            permissions: "x-specguard-permissions".into(),
            api_key_id: "x-specguard-api-key-id".into(),
            forward_token: false,
        }
    }
}

/// One alternative of an operation's `security`: every scheme in it must pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub schemes: Vec<SchemeRequirement>,
}

/// A scheme (index into [`Security::schemes`]) and the permissions it must carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SchemeRequirement {
    pub scheme: u32,
    #[serde(default)]
    pub scopes: Vec<String>,
}
