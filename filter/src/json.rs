//! Strict, bounded JSON parsing for bodies that face the network.
//!
//! On top of RFC 8259 (serde_json): invalid UTF-8, duplicate object keys,
//! nesting deeper than the limit, more keys in total than the limit, strings
//! longer than the limit and arrays longer than the limit are all refused,
//! while parsing, before anything is built past the bound.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Bounds applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimits {
    pub max_depth: u32,
    pub max_keys: u32,
    pub max_string: u32,
    pub max_array: u32,
}

/// Why a body is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("body is not valid UTF-8")]
    InvalidUtf8,
    #[error("body is not valid JSON ({0})")]
    Syntax(String),
    #[error("duplicate object key")]
    DuplicateKey,
    #[error("JSON nesting deeper than {0}")]
    TooDeep(u32),
    #[error("more than {0} object keys")]
    TooManyKeys(u32),
    #[error("a string longer than {0} bytes")]
    StringTooLong(u32),
    #[error("an array longer than {0} items")]
    ArrayTooLong(u32),
}

impl JsonError {
    /// Whether the body broke a size bound (rather than being malformed).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            JsonError::TooDeep(_)
                | JsonError::TooManyKeys(_)
                | JsonError::StringTooLong(_)
                | JsonError::ArrayTooLong(_)
        )
    }
}

struct State {
    limits: JsonLimits,
    keys: Cell<u32>,
    /// The first bound broken; serde only carries a string error upward.
    failure: Cell<Option<JsonError>>,
}

impl State {
    fn fail<E: de::Error>(&self, e: JsonError) -> E {
        let msg = e.to_string();
        if self.failure.take().is_none() {
            self.failure.set(Some(e));
        }
        E::custom(msg)
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.max_string as usize {
            return Err(self.fail(JsonError::StringTooLong(self.limits.max_string)));
        }
        Ok(())
    }
}

/// Parses `bytes` as one JSON document within `limits`.
pub fn parse(bytes: &[u8], limits: JsonLimits) -> Result<Value, JsonError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(JsonError::InvalidUtf8);
    }
    let state = State {
        limits,
        keys: Cell::new(0),
        failure: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = Seed {
        depth: 0,
        state: &state,
    };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|_| v));
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(match state.failure.take() {
            Some(f) => f,
            None if e.to_string().contains("recursion limit") => {
                JsonError::TooDeep(limits.max_depth)
            }
            None => JsonError::Syntax(syntax_class(&e)),
        }),
    }
}

/// A description of a syntax error that names its position but never echoes input.
fn syntax_class(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "bad value",
        serde_json::error::Category::Io => "read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[derive(Clone, Copy)]
struct Seed<'s> {
    depth: u32,
    state: &'s State,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.state.string(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.state.string(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.nest::<A::Error>()?;
        let mut out = Vec::new();
        let child = Seed {
            depth,
            state: self.state,
        };
        while let Some(v) = seq.next_element_seed(child)? {
            if out.len() >= self.state.limits.max_array as usize {
                return Err(self
                    .state
                    .fail(JsonError::ArrayTooLong(self.state.limits.max_array)));
            }
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.nest::<A::Error>()?;
        let mut out = Map::new();
        let child = Seed {
            depth,
            state: self.state,
        };
        while let Some(key) = map.next_key::<String>()? {
            self.state.string::<A::Error>(&key)?;
            let n = self.state.keys.get() + 1;
            if n > self.state.limits.max_keys {
                return Err(self
                    .state
                    .fail(JsonError::TooManyKeys(self.state.limits.max_keys)));
            }
            self.state.keys.set(n);
            let v = map.next_value_seed(child)?;
            if out.insert(key, v).is_some() {
                return Err(self.state.fail(JsonError::DuplicateKey));
            }
        }
        Ok(Value::Object(out))
    }
}

impl Seed<'_> {
    fn nest<E: de::Error>(&self) -> Result<u32, E> {
        let d = self.depth + 1;
        if d > self.state.limits.max_depth {
            return Err(self
                .state
                .fail(JsonError::TooDeep(self.state.limits.max_depth)));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: JsonLimits = JsonLimits {
        max_depth: 4,
        max_keys: 5,
        max_string: 8,
        max_array: 3,
    };

    #[test]
    fn accepts_plain_json() {
        let v = parse(br#"{"a": [1, 2.5, "x"], "b": {"c": null}}"#, L).unwrap();
        assert_eq!(v["a"][1], 2.5);
    }

    #[test]
    fn each_bound_is_enforced_at_the_edge() {
        assert!(parse(b"[[[[1]]]]", L).is_ok());
        assert_eq!(parse(b"[[[[[1]]]]]", L), Err(JsonError::TooDeep(4)));
        assert!(parse(br#"{"a":1,"b":2,"c":3,"d":4,"e":5}"#, L).is_ok());
        assert_eq!(
            parse(br#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}"#, L),
            Err(JsonError::TooManyKeys(5))
        );
        assert!(parse(br#""12345678""#, L).is_ok());
        assert_eq!(
            parse(br#""123456789""#, L),
            Err(JsonError::StringTooLong(8))
        );
        assert_eq!(
            parse(br#"{"123456789": 1}"#, L),
            Err(JsonError::StringTooLong(8))
        );
        assert!(parse(b"[1,2,3]", L).is_ok());
        assert_eq!(parse(b"[1,2,3,4]", L), Err(JsonError::ArrayTooLong(3)));
    }

    #[test]
    fn refuses_duplicates_bad_utf8_and_trailing_garbage() {
        assert_eq!(parse(br#"{"a":1,"a":2}"#, L), Err(JsonError::DuplicateKey));
        assert_eq!(parse(b"\"\xff\"", L), Err(JsonError::InvalidUtf8));
        assert!(matches!(parse(b"{} x", L), Err(JsonError::Syntax(_))));
        assert!(matches!(parse(b"", L), Err(JsonError::Syntax(_))));
        assert!(matches!(
            parse(br#""\ud800""#, L),
            Err(JsonError::Syntax(_))
        ));
        assert!(matches!(parse(b"1e999", L), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn deep_nesting_beyond_serde_limit_is_a_depth_error() {
        let deep = JsonLimits {
            max_depth: 10_000,
            ..L
        };
        let text = "[".repeat(5000) + &"]".repeat(5000);
        assert!(matches!(
            parse(text.as_bytes(), deep),
            Err(JsonError::TooDeep(_))
        ));
    }

    #[test]
    fn syntax_errors_do_not_echo_input() {
        let wide = JsonLimits {
            max_string: 100,
            ..L
        };
        let Err(JsonError::Syntax(msg)) = parse(br#"{"secret-token-123": }"#, wide) else {
            panic!("expected syntax error")
        };
        assert!(!msg.contains("secret"));
    }
}
