//! Network-facing JSON: a strict, bounded, zero-copy parser ([`parse`]) into
//! a borrowed document ([`Json`]) that remembers where each object member
//! sits in the input, so a response can have members removed by splicing the
//! original bytes ([`splice`]) instead of being re-serialized.
//!
//! Strings without escapes borrow from the input; objects are vectors of
//! members (small objects are the norm; lookups are linear scans).

mod parse;

use std::borrow::Cow;

use serde_json::Value;

pub use parse::{parse, JsonError, JsonLimits};

/// A JSON number as written: integers stay exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::U(u) => u as f64,
            Num::F(f) => f,
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self {
            Num::I(i) => Some(i),
            Num::U(u) => i64::try_from(u).ok(),
            Num::F(_) => None,
        }
    }

    /// Integral value (JSON Schema counts `1.0` as an integer).
    pub fn is_integer(self) -> bool {
        match self {
            Num::I(_) | Num::U(_) => true,
            Num::F(f) => f.fract() == 0.0,
        }
    }

    fn from_serde(n: &serde_json::Number) -> Num {
        if let Some(i) = n.as_i64() {
            Num::I(i)
        } else if let Some(u) = n.as_u64() {
            Num::U(u)
        } else {
            Num::F(n.as_f64().unwrap_or(f64::NAN))
        }
    }
}

/// An object member and where it sits in the input: `start` is the offset
/// of its key's opening quote, `end` one past its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    pub key: Cow<'a, str>,
    pub value: Json<'a>,
    pub start: u32,
    pub end: u32,
}

/// A parsed JSON document borrowing from its input.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Vec<Member<'a>>),
}

impl<'a> Json<'a> {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(m) => m.iter().find(|x| x.key == key).map(|x| &x.value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An owned document from a `serde_json` value (schema constants, tests).
    pub fn from_value(v: &Value) -> Json<'static> {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Num(Num::from_serde(n)),
            Value::String(s) => Json::Str(Cow::Owned(s.clone())),
            Value::Array(a) => Json::Arr(a.iter().map(Json::from_value).collect()),
            Value::Object(m) => Json::Obj(
                m.iter()
                    .map(|(k, v)| Member {
                        key: Cow::Owned(k.clone()),
                        value: Json::from_value(v),
                        start: 0,
                        end: 0,
                    })
                    .collect(),
            ),
        }
    }
}

fn num_eq(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x == y,
        (Num::U(x), Num::U(y)) => x == y,
        (Num::I(x), Num::U(y)) | (Num::U(y), Num::I(x)) => u64::try_from(x).is_ok_and(|x| x == y),
        _ => a.as_f64() == b.as_f64(),
    }
}

/// JSON equality as JSON Schema defines it (`1 == 1.0`; member order ignored).
pub fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::Num(x), Json::Num(y)) => num_eq(*x, *y),
        (Json::Str(x), Json::Str(y)) => x == y,
        (Json::Arr(x), Json::Arr(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Json::Obj(x), Json::Obj(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|m| b.get(&m.key).is_some_and(|w| json_eq(&m.value, w)))
        }
        _ => false,
    }
}

/// Removes `ranges` (byte offsets, any order, may nest or touch) from `input`.
pub fn splice(input: &[u8], ranges: &mut [(u32, u32)]) -> Vec<u8> {
    ranges.sort_unstable();
    let mut out = Vec::with_capacity(input.len());
    let mut at = 0usize;
    for &(s, e) in ranges.iter() {
        let (s, e) = (s as usize, e as usize);
        if s > at {
            out.extend_from_slice(&input[at..s.min(input.len())]);
        }
        at = at.max(e);
    }
    if at < input.len() {
        out.extend_from_slice(&input[at..]);
    }
    out
}

/// Byte ranges that remove the members of `members` for which `drop` is
/// true, leaving valid JSON (commas included).
pub fn removal_ranges(members: &[Member], drop: &[bool], out: &mut Vec<(u32, u32)>) {
    let n = members.len();
    let mut i = 0;
    while i < n {
        if !drop[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i < n && drop[i] {
            i += 1;
        }
        let last = i - 1;
        if i < n {
            // A kept member follows: remove up to its key.
            out.push((members[first].start, members[i].start));
        } else if first > 0 {
            // The run ends the object: remove from the previous kept value.
            out.push((members[first - 1].end, members[last].end));
        } else {
            out.push((members[first].start, members[last].end));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: JsonLimits = JsonLimits {
        max_depth: 8,
        max_keys: 100,
        max_string: 100,
        max_array: 100,
    };

    fn drop_keys(text: &str, keys: &[&str]) -> String {
        let doc = parse(text.as_bytes(), L).unwrap();
        let Json::Obj(m) = &doc else { panic!() };
        let drop: Vec<bool> = m.iter().map(|x| keys.contains(&x.key.as_ref())).collect();
        let mut ranges = Vec::new();
        removal_ranges(m, &drop, &mut ranges);
        String::from_utf8(splice(text.as_bytes(), &mut ranges)).unwrap()
    }

    #[test]
    fn splicing_members_out_leaves_valid_json() {
        let t = r#"{ "a": 1, "b": [2], "c": {"d": 3} , "e": "x" }"#;
        for keys in [
            &["a"][..],
            &["b"],
            &["e"],
            &["a", "b"],
            &["d", "e"],
            &["c", "e"],
            &["a", "e"],
            &["a", "b", "c", "e"],
            &["b", "c"],
        ] {
            let out = drop_keys(t, keys);
            let v: Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{keys:?}: {out:?}: {e}"));
            let mut expected: Value = serde_json::from_str(t).unwrap();
            for k in keys {
                expected.as_object_mut().unwrap().remove(*k);
            }
            assert_eq!(v, expected, "{keys:?}");
        }
    }

    #[test]
    fn equality_follows_json_schema() {
        fn p(t: &str) -> Json<'_> {
            parse(t.as_bytes(), L).unwrap()
        }
        assert!(json_eq(&p("1"), &p("1.0")));
        assert!(json_eq(&p(r#"{"a":1,"b":2}"#), &p(r#"{"b":2,"a":1}"#)));
        assert!(!json_eq(&p("[1,2]"), &p("[2,1]")));
        assert!(json_eq(
            &p("18446744073709551615"),
            &Json::from_value(&serde_json::json!(18446744073709551615u64))
        ));
        assert!(!json_eq(&p("-1"), &p("18446744073709551615")));
    }
}
