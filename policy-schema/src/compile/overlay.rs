//! OpenAPI Overlay 1.0: a document of `actions`, each a JSONPath `target`
//! (RFC 9535) with an `update` merged into, or a `remove` of, every node it
//! selects. Applied to the root spec before compilation, in file order.

use std::path::Path;

use serde_json::Value;
use serde_json_path::JsonPath;

use super::diag::{Diagnostic, Location, Severity};
use super::loader::{parse_text, DocId, Loader, MAX_SPEC_FILE};

fn err(at: Location, message: String, hint: Option<&str>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        at,
        message,
        hint: hint.map(str::to_string),
    }
}

/// Reads the overlay at `path` and applies it to document `doc`.
pub fn apply_file(loader: &mut Loader, doc: DocId, path: &Path) -> Result<(), Diagnostic> {
    let display = path.display().to_string();
    let root = Location::new(&display, "");
    let len = std::fs::metadata(path)
        .map_err(|e| err(root.clone(), format!("cannot open overlay: {e}"), None))?
        .len();
    if len > MAX_SPEC_FILE {
        return Err(err(root, "overlay file is too large".into(), None));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(root.clone(), format!("cannot read overlay: {e}"), None))?;
    let overlay = parse_text(&text, &display)?;
    apply(&mut loader.docs[doc].value, &overlay, &display)
}

/// Applies a parsed overlay document to `spec`.
pub fn apply(spec: &mut Value, overlay: &Value, file: &str) -> Result<(), Diagnostic> {
    let root = Location::new(file, "");
    let obj = overlay
        .as_object()
        .ok_or_else(|| err(root.clone(), "an overlay must be a mapping".into(), None))?;
    match obj.get("overlay").and_then(Value::as_str) {
        Some(v) if v.starts_with("1.") => {}
        _ => {
            return Err(err(
                root.child("overlay"),
                "missing or unsupported `overlay` version".into(),
                Some("OpenAPI Overlay 1.x documents start with `overlay: 1.0.0`"),
            ))
        }
    }
    for key in obj.keys() {
        if !matches!(key.as_str(), "overlay" | "info" | "extends" | "actions")
            && !key.starts_with("x-")
        {
            return Err(err(
                root.child(key),
                format!("unknown overlay field {key:?}"),
                None,
            ));
        }
    }
    let actions = obj
        .get("actions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            err(
                root.child("actions"),
                "`actions` must be a list".into(),
                None,
            )
        })?;
    for (i, action) in actions.iter().enumerate() {
        let at = root.child("actions").index(i);
        let a = action
            .as_object()
            .ok_or_else(|| err(at.clone(), "an action must be a mapping".into(), None))?;
        for key in a.keys() {
            if !matches!(key.as_str(), "target" | "description" | "update" | "remove")
                && !key.starts_with("x-")
            {
                return Err(err(
                    at.child(key),
                    format!("unknown action field {key:?}"),
                    None,
                ));
            }
        }
        let target = a.get("target").and_then(Value::as_str).ok_or_else(|| {
            err(
                at.child("target"),
                "`target` must be a JSONPath string".into(),
                None,
            )
        })?;
        let path = JsonPath::parse(target).map_err(|e| {
            err(
                at.child("target"),
                format!("target {target:?} is not valid JSONPath: {e}"),
                Some("targets follow RFC 9535, e.g. $.paths['/orders'].post"),
            )
        })?;
        let remove = match a.get("remove") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(err(
                    at.child("remove"),
                    "`remove` must be a boolean".into(),
                    None,
                ))
            }
        };
        let update = a.get("update");
        if remove && update.is_some() {
            return Err(err(
                at,
                "an action has both `update` and `remove`".into(),
                Some("split it into two actions"),
            ));
        }
        let pointers: Vec<String> = path
            .query_located(spec)
            .locations()
            .map(|l| l.to_json_pointer())
            .collect();
        if remove {
            // Deepest and last first, so earlier removals do not shift later pointers.
            for p in pointers.iter().rev() {
                remove_at(spec, p);
            }
        } else if let Some(u) = update {
            for p in &pointers {
                if let Some(node) = spec.pointer_mut(p) {
                    merge(node, u);
                }
            }
        }
    }
    Ok(())
}

fn remove_at(spec: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match spec.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

/// Overlay merge: objects merge recursively, an array target gets the update
/// appended, anything else is replaced.
fn merge(target: &mut Value, update: &Value) {
    match (target, update) {
        (Value::Object(t), Value::Object(u)) => {
            for (k, v) in u {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), u) => match u {
            Value::Array(items) => t.extend(items.iter().cloned()),
            other => t.push(other.clone()),
        },
        (t, u) => *t = u.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_and_remove() {
        let mut spec = json!({"paths": {"/a": {"get": {"x": 1}, "post": {}}}, "tags": ["t"]});
        let ov = json!({
            "overlay": "1.0.0",
            "info": {"title": "t", "version": "1"},
            "actions": [
                {"target": "$.paths['/a'].get", "update": {"x-specguard-mode": "monitor"}},
                {"target": "$.paths['/a'].post", "remove": true},
                {"target": "$.tags", "update": "u"}
            ]
        });
        apply(&mut spec, &ov, "ov.yaml").unwrap();
        assert_eq!(
            spec,
            json!({"paths": {"/a": {"get": {"x": 1, "x-specguard-mode": "monitor"}}}, "tags": ["t", "u"]})
        );
    }

    #[test]
    fn bad_overlays_are_errors() {
        let mut spec = json!({});
        let e = apply(&mut spec, &json!({"actions": []}), "o").unwrap_err();
        assert!(e.message.contains("overlay"));
        let e = apply(
            &mut spec,
            &json!({"overlay": "1.0.0", "actions": [{"target": "$[", "update": {}}]}),
            "o",
        )
        .unwrap_err();
        assert!(e.message.contains("JSONPath"), "{}", e.message);
        let e = apply(&mut spec, &json!({"overlay": "1.0.0", "actions": [{"target": "$", "update": {}, "remove": true}]}), "o").unwrap_err();
        assert!(e.message.contains("both"));
    }
}
