//! Validator unit tests: failure reports (pointer, keyword), redaction, and
//! configure-time refusals. Keyword semantics are covered by the
//! conformance suite in `filter/tests/conformance/`.

use serde_json::json;
use specguard_policy::schema::{Schema, SchemaType};

use super::*;
use crate::json::{parse, splice, JsonLimits};

const L: JsonLimits = JsonLimits {
    max_depth: 16,
    max_keys: 100,
    max_string: 100,
    max_array: 100,
};

fn j(v: serde_json::Value) -> Json<'static> {
    Json::from_value(&v)
}

/// Redacts `doc` for `cx` and returns the spliced result as a value.
fn redacted(v: &Validator, id: SchemaId, doc: serde_json::Value, cx: Ctx) -> serde_json::Value {
    let text = doc.to_string();
    let parsed = parse(text.as_bytes(), L).unwrap();
    assert!(v.is_valid(id, &parsed, cx));
    let mut ranges = Vec::new();
    v.redact(id, &parsed, cx, &mut ranges);
    serde_json::from_slice(&splice(text.as_bytes(), &mut ranges)).unwrap()
}

fn obj(props: &[(&str, SchemaId)]) -> Schema {
    Schema {
        types: vec![SchemaType::Object],
        properties: props.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..Schema::default()
    }
}

const REQ: Ctx = Ctx {
    dir: Direction::Request,
    internal: false,
};
const RESP: Ctx = Ctx {
    dir: Direction::Response,
    internal: false,
};

#[test]
fn failure_names_pointer_and_keyword() {
    // 0: {a: {b/c: [int]}}, 1: {b/c: ...}, 2: array of 3, 3: integer
    let table = vec![
        obj(&[("a", 1)]),
        obj(&[("b/c", 2)]),
        Schema {
            types: vec![SchemaType::Array],
            items: Some(3),
            ..Schema::default()
        },
        Schema {
            types: vec![SchemaType::Integer],
            origin: "spec.yaml#/int".into(),
            ..Schema::default()
        },
    ];
    let v = Validator::new(&table).unwrap();
    assert!(v
        .validate(0, &j(json!({"a": {"b/c": [1, 2]}})), REQ)
        .is_ok());
    let f = v
        .validate(0, &j(json!({"a": {"b/c": [1, "x"]}})), REQ)
        .unwrap_err();
    assert_eq!(f.pointer, "/a/b~1c/1");
    assert_eq!(f.keyword, "type");
    assert_eq!(f.schema, "spec.yaml#/int");
}

#[test]
fn write_only_and_internal_fields_are_removed_from_responses() {
    let table = vec![
        obj(&[("name", 1), ("secret", 2), ("note", 3), ("child", 4)]),
        Schema::default(),
        Schema {
            write_only: true,
            ..Schema::default()
        },
        Schema {
            internal: true,
            ..Schema::default()
        },
        Schema {
            reference: Some(5),
            ..Schema::default()
        },
        obj(&[("secret", 2), ("keep", 1)]),
    ];
    let v = Validator::new(&table).unwrap();
    assert!(v.may_redact(0) && v.may_redact(4) && !v.may_redact(1));
    let doc = json!({"name": "n", "secret": "s", "note": "i", "child": {"secret": 1, "keep": 2}});
    assert_eq!(
        redacted(&v, 0, doc, RESP),
        json!({"name": "n", "child": {"keep": 2}})
    );
    // Internal callers keep internal fields, never write-only ones.
    let internal = Ctx {
        internal: true,
        ..RESP
    };
    assert_eq!(
        redacted(&v, 0, json!({"note": "i", "secret": "s"}), internal),
        json!({"note": "i"})
    );
    // Nothing to remove: no ranges at all.
    let mut ranges = Vec::new();
    v.redact(0, &j(json!({"name": "n"})), RESP, &mut ranges);
    assert!(ranges.is_empty());
    // Requests: internal field refused from external callers only.
    assert_eq!(
        v.validate(0, &j(json!({"note": "i"})), REQ)
            .unwrap_err()
            .keyword,
        "x-internal"
    );
    assert!(v.is_valid(
        0,
        &j(json!({"note": "i"})),
        Ctx {
            internal: true,
            ..REQ
        }
    ));
}

#[test]
fn schemas_that_apply_themselves_in_place_are_refused_at_configure_time() {
    let table = vec![
        Schema {
            all_of: vec![1],
            ..Schema::default()
        },
        Schema {
            reference: Some(0),
            ..Schema::default()
        },
    ];
    let e = Validator::new(&table).err().unwrap();
    assert!(e.contains("without nesting"), "{e}");
    // Recursion through a property is fine.
    let ok = vec![obj(&[("next", 0)])];
    let v = Validator::new(&ok).unwrap();
    assert!(v.is_valid(0, &j(json!({"next": {"next": {}}})), REQ));
}

#[test]
fn bad_patterns_are_refused_at_configure_time() {
    let table = vec![Schema {
        pattern: Some("(?=x)".into()),
        ..Schema::default()
    }];
    assert!(Validator::new(&table).is_err());
}

#[test]
fn value_types_follow_refs() {
    let table = vec![
        Schema {
            reference: Some(1),
            ..Schema::default()
        },
        Schema {
            types: vec![SchemaType::Integer],
            ..Schema::default()
        },
    ];
    let v = Validator::new(&table).unwrap();
    assert_eq!(v.value_types(0), types::INTEGER);
}
