//! Loads spec documents (YAML or JSON) and resolves `$ref` strings across
//! files: `#/local/pointer`, `other.yaml`, `other.yaml#/pointer`, relative to
//! the referring file. Documents are read once and kept by canonical path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diag::{Diagnostic, Location, Severity};

/// Index of a loaded document.
pub type DocId = usize;

/// One loaded document.
#[derive(Debug)]
pub struct Source {
    /// Path as shown in diagnostics (relative to the working directory when given so).
    pub display: String,
    pub path: PathBuf,
    pub value: Value,
}

/// Largest spec file read, bytes (a spec is configuration, not data).
pub const MAX_SPEC_FILE: u64 = 64 << 20;

#[derive(Debug, Default)]
pub struct Loader {
    pub docs: Vec<Source>,
    by_path: HashMap<PathBuf, DocId>,
}

fn err(file: &str, pointer: &str, message: String, hint: Option<&str>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        at: Location::new(file, pointer),
        message,
        hint: hint.map(str::to_string),
    }
}

/// Parses YAML or JSON text into JSON values (YAML tags and non-string keys refused).
pub fn parse_text(text: &str, display: &str) -> Result<Value, Diagnostic> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            return Ok(v);
        }
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        err(
            display,
            "",
            format!("not valid YAML or JSON: {e}"),
            Some("check indentation and quoting at the reported line"),
        )
    })?;
    yaml_to_json(yaml, display, "")
}

fn yaml_to_json(v: serde_yaml::Value, file: &str, ptr: &str) -> Result<Value, Diagnostic> {
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| {
                        err(
                            file,
                            ptr,
                            "number is not finite".into(),
                            Some("JSON has no NaN or infinity"),
                        )
                    })?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, x)| yaml_to_json(x, file, &format!("{ptr}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                let key = match k {
                    Y::String(s) => s,
                    // Response codes are often written unquoted (200:); YAML reads them as numbers.
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(err(
                            file,
                            ptr,
                            format!("mapping key {other:?} is not a string"),
                            Some("quote the key"),
                        ))
                    }
                };
                let child = format!("{ptr}/{}", key.replace('~', "~0").replace('/', "~1"));
                let val = yaml_to_json(x, file, &child)?;
                out.insert(key, val);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            return Err(err(
                file,
                ptr,
                format!("YAML tag {} is not allowed in a spec", t.tag),
                Some("remove the tag"),
            ))
        }
    })
}

impl Loader {
    /// Loads the root spec file.
    pub fn load_root(&mut self, path: &Path) -> Result<DocId, Diagnostic> {
        self.load(path, path.display().to_string())
    }

    /// Registers an in-memory document as if read from `path` (relative `$ref`s
    /// resolve against its directory).
    pub fn load_text(
        &mut self,
        path: &Path,
        display: &str,
        text: &str,
    ) -> Result<DocId, Diagnostic> {
        let value = parse_text(text, display)?;
        let id = self.docs.len();
        self.docs.push(Source {
            display: display.to_string(),
            path: path.to_path_buf(),
            value,
        });
        Ok(id)
    }

    fn load(&mut self, path: &Path, display: String) -> Result<DocId, Diagnostic> {
        let canon = path.canonicalize().map_err(|e| {
            err(
                &display,
                "",
                format!("cannot open: {e}"),
                Some("check the path"),
            )
        })?;
        if let Some(&id) = self.by_path.get(&canon) {
            return Ok(id);
        }
        let meta = std::fs::metadata(&canon)
            .map_err(|e| err(&display, "", format!("cannot read: {e}"), None))?;
        if meta.len() > MAX_SPEC_FILE {
            return Err(err(
                &display,
                "",
                format!(
                    "file is {} bytes, above the {MAX_SPEC_FILE}-byte limit",
                    meta.len()
                ),
                Some("split the spec into several files"),
            ));
        }
        let text = std::fs::read_to_string(&canon).map_err(|e| {
            err(
                &display,
                "",
                format!("cannot read as UTF-8 text: {e}"),
                None,
            )
        })?;
        let value = parse_text(&text, &display)?;
        let id = self.docs.len();
        self.docs.push(Source {
            display,
            path: canon.clone(),
            value,
        });
        self.by_path.insert(canon, id);
        Ok(id)
    }

    /// Resolves a `$ref` string written in document `from` into (document, pointer).
    pub fn resolve_ref(
        &mut self,
        from: DocId,
        reference: &str,
        at: &Location,
    ) -> Result<(DocId, String), Diagnostic> {
        let (file_part, pointer) = match reference.split_once('#') {
            Some((f, p)) => (f, p.to_string()),
            None => (reference, String::new()),
        };
        let pointer = percent_decode(&pointer).ok_or_else(|| {
            err(
                &at.file,
                &at.pointer,
                format!("$ref {reference:?} has a bad percent-escape"),
                None,
            )
        })?;
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(err(
                &at.file,
                &at.pointer,
                format!("$ref {reference:?} uses an anchor, not a JSON pointer"),
                Some("$anchor and $id-based references are not supported; point at the schema with #/path/to/it"),
            ));
        }
        let doc = if file_part.is_empty() {
            from
        } else {
            if file_part.contains("://") {
                return Err(err(
                    &at.file,
                    &at.pointer,
                    format!("$ref {reference:?} points at a remote URL"),
                    Some("download the referenced document and refer to it by relative path; compilation never touches the network"),
                ));
            }
            let base = self.docs[from]
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let target = base.join(file_part);
            let display = Path::new(&self.docs[from].display)
                .parent()
                .map(|p| p.join(file_part).display().to_string())
                .unwrap_or_else(|| file_part.to_string());
            self.load(&target, display).map_err(|mut d| {
                d.message = format!("$ref {reference:?} at {at}: {}", d.message);
                d
            })?
        };
        if self.get(doc, &pointer).is_none() {
            return Err(err(
                &at.file,
                &at.pointer,
                format!(
                    "$ref {reference:?} does not resolve: {}#{pointer} does not exist",
                    self.docs[doc].display
                ),
                Some("fix the pointer or the file name"),
            ));
        }
        Ok((doc, pointer))
    }

    /// The value at a JSON pointer in a document.
    pub fn get(&self, doc: DocId, pointer: &str) -> Option<&Value> {
        self.docs.get(doc)?.value.pointer(pointer)
    }

    pub fn display(&self, doc: DocId) -> &str {
        &self.docs[doc].display
    }
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
