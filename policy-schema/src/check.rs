//! Structural checks on a parsed policy, shared by the CLI and the filter
//! (stage 1 of configuration). Anything that would make enforcement ambiguous
//! or impossible is an error here, never a silent skip later.

use std::collections::HashSet;

use crate::model::{BodyHandling, ParamLocation, Policy, POLICY_VERSION};

/// Why a policy cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CheckError {
    #[error("policy is not valid JSON for this format: {0}")]
    Parse(String),
    #[error("policy version {found} is not supported (this build reads version {expected}); recompile the spec with a matching specguard")]
    Version { found: u32, expected: u32 },
    #[error("{at}: schema index {index} is out of range (the table has {len} schemas)")]
    SchemaIndex { at: String, index: u32, len: usize },
    #[error("operation id {0:?} appears twice; operation ids must be unique")]
    DuplicateOperation(String),
    #[error("operations {first:?} and {second:?} both claim {method} {path}")]
    DuplicateRoute {
        first: String,
        second: String,
        method: String,
        path: String,
    },
    #[error("operation {op:?}: {msg}")]
    Operation { op: String, msg: String },
    #[error("schema {index} ({origin}): pattern {pattern:?} does not compile: {msg}")]
    Pattern {
        index: usize,
        origin: String,
        pattern: String,
        msg: String,
    },
}

/// Largest compiled regex accepted, bytes (a pattern is attacker-independent
/// but a spec can still ask for a pathological automaton).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a schema `pattern` the way the enforcement point does.
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// Checks a policy for internal consistency.
pub fn check(policy: &Policy) -> Result<(), CheckError> {
    if policy.version != POLICY_VERSION {
        return Err(CheckError::Version {
            found: policy.version,
            expected: POLICY_VERSION,
        });
    }
    let len = policy.schemas.len();
    let in_range = |at: &dyn Fn() -> String, index: u32| {
        if (index as usize) < len {
            Ok(())
        } else {
            Err(CheckError::SchemaIndex {
                at: at(),
                index,
                len,
            })
        }
    };
    for (i, s) in policy.schemas.iter().enumerate() {
        for child in s.children() {
            in_range(&|| format!("schema {i} ({})", s.origin), child)?;
        }
        if let Some(p) = &s.pattern {
            check_pattern(i, &s.origin, p)?;
        }
        for p in s.pattern_properties.keys() {
            check_pattern(i, &s.origin, p)?;
        }
    }
    let mut ids = HashSet::new();
    let mut routes = std::collections::HashMap::new();
    for op in &policy.operations {
        if !ids.insert(op.id.as_str()) {
            return Err(CheckError::DuplicateOperation(op.id.clone()));
        }
        let op_err = |msg: String| CheckError::Operation {
            op: op.id.clone(),
            msg,
        };
        if !op.path.starts_with('/') {
            return Err(op_err(format!("path {:?} must start with '/'", op.path)));
        }
        if op.method.is_empty() || op.method.bytes().any(|b| !b.is_ascii_uppercase()) {
            return Err(op_err(format!(
                "method {:?} must be an upper-case HTTP method",
                op.method
            )));
        }
        let template_params = path_template_params(&op.path).map_err(op_err)?;
        let key = (op.method.clone(), normalized_template(&op.path));
        if let Some(first) = routes.insert(key, op.id.clone()) {
            return Err(CheckError::DuplicateRoute {
                first,
                second: op.id.clone(),
                method: op.method.clone(),
                path: op.path.clone(),
            });
        }
        for p in &op.parameters {
            in_range(
                &|| format!("operation {} parameter {}", op.id, p.name),
                p.schema,
            )?;
            if p.location == ParamLocation::Path && !template_params.contains(&p.name) {
                return Err(op_err(format!(
                    "path parameter {:?} does not appear in the template {:?}",
                    p.name, op.path
                )));
            }
        }
        for name in &template_params {
            let declared = op
                .parameters
                .iter()
                .any(|p| p.location == ParamLocation::Path && &p.name == name);
            if !declared {
                return Err(op_err(format!(
                    "template variable {{{name}}} has no path parameter"
                )));
            }
        }
        let media = op
            .request_body
            .iter()
            .flat_map(|b| b.content.iter())
            .chain(op.responses.iter().flat_map(|r| r.content.iter()));
        for m in media {
            if let Some(s) = m.schema {
                in_range(&|| format!("operation {} media {}", op.id, m.media_type), s)?;
            }
            if m.handling == BodyHandling::Json && !m.media_type.contains('/') {
                return Err(op_err(format!(
                    "media type {:?} is malformed",
                    m.media_type
                )));
            }
        }
        for req in &op.security {
            for s in &req.schemes {
                if s.scheme as usize >= policy.security.schemes.len() {
                    return Err(op_err(format!(
                        "security scheme index {} is out of range",
                        s.scheme
                    )));
                }
            }
        }
        for r in &op.responses {
            if !valid_status_key(&r.status) {
                return Err(op_err(format!(
                    "response key {:?} must be a status code, a range like 2XX, or default",
                    r.status
                )));
            }
        }
    }
    Ok(())
}

fn check_pattern(index: usize, origin: &str, pattern: &str) -> Result<(), CheckError> {
    compile_pattern(pattern)
        .map(|_| ())
        .map_err(|e| CheckError::Pattern {
            index,
            origin: origin.to_string(),
            pattern: pattern.to_string(),
            msg: e.to_string(),
        })
}

/// `200`, `2XX` or `default`.
pub fn valid_status_key(key: &str) -> bool {
    if key == "default" {
        return true;
    }
    let b = key.as_bytes();
    b.len() == 3
        && (b'1'..=b'5').contains(&b[0])
        && ((b[1].is_ascii_digit() && b[2].is_ascii_digit()) || (&b[1..] == b"XX"))
}

/// The variable names of a path template, in order; errors on malformed templates.
pub fn path_template_params(path: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for seg in path.split('/').skip(1) {
        if seg.contains('{') || seg.contains('}') {
            let inner = seg
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|s| !s.is_empty() && !s.contains(['{', '}']))
                .ok_or_else(|| {
                    format!("path segment {seg:?} in {path:?}: only whole-segment variables like {{id}} are supported")
                })?;
            if names.iter().any(|n| n == inner) {
                return Err(format!("path {path:?} uses {{{inner}}} twice"));
            }
            names.push(inner.to_string());
        }
    }
    Ok(names)
}

/// The template with variable names erased (`/a/{}/b`): two templates that
/// differ only in names match the same requests.
pub fn normalized_template(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            path_template_params("/a/{x}/b/{y}").unwrap(),
            vec!["x".to_string(), "y".to_string()]
        );
        assert!(path_template_params("/a/x{y}").is_err());
        assert!(path_template_params("/a/{x}/{x}").is_err());
        assert_eq!(normalized_template("/a/{x}/b"), "/a/{}/b");
        assert!(valid_status_key("2XX"));
        assert!(valid_status_key("404"));
        assert!(!valid_status_key("600"));
        assert!(!valid_status_key("2xx"));
    }
}
