//! Parameter decoding: raw path segments, query pairs, headers and cookies
//! into JSON values per OpenAPI `style`/`explode`, ready for the validator.
//! Text is coerced to the type the parameter's schema expects; text that
//! fits no expected type stays a string and fails validation there.

use serde_json::{Map, Value};
use specguard_policy::model::{ParamStyle, Parameter};

use crate::validate::{types, Validator};

/// Percent-decodes `s` (and `+` as space when `plus` is set). `None` when an
/// escape is malformed or the result is not UTF-8.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let escaped = s.contains('%') || (plus && s.contains('+'));
    if !escaped {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = (*b.get(i + 1)? as char).to_digit(16)?;
                let lo = (*b.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a query string into decoded (name, value) pairs.
pub fn parse_query(q: &str) -> Option<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// Parses a `Cookie` header into (name, value) pairs.
pub fn parse_cookies(header: &str) -> Vec<(String, String)> {
    header
        .split(';')
        .filter_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Text to the JSON value the schema expects (integer, number, boolean, null,
/// else string).
pub fn coerce(text: &str, expected: u8) -> Value {
    if expected & types::INTEGER != 0 {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
    }
    if expected & (types::NUMBER | types::INTEGER) != 0 {
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() && !text.starts_with('+') && !text.eq_ignore_ascii_case("nan") {
                if let Some(n) = serde_json::Number::from_f64(f) {
                    return Value::Number(n);
                }
            }
        }
    }
    if expected & types::BOOL != 0 {
        match text {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    if expected & types::NULL != 0 && text.is_empty() && expected & types::STRING == 0 {
        return Value::Null;
    }
    Value::String(text.to_string())
}

fn delimiter(style: ParamStyle) -> char {
    match style {
        ParamStyle::SpaceDelimited => ' ',
        ParamStyle::PipeDelimited => '|',
        _ => ',',
    }
}

/// Decodes one parameter from its raw occurrences (already percent-decoded,
/// except path values, which are decoded here). `values` holds every
/// occurrence (repeated query keys).
pub fn decode(v: &Validator, p: &Parameter, values: &[&str]) -> Result<Value, &'static str> {
    let expected = v.value_types(p.schema);
    if expected & types::ARRAY != 0 && expected & !(types::ARRAY | types::NULL) == 0 {
        let item_types = v
            .item_schema(p.schema)
            .map(|i| v.value_types(i))
            .unwrap_or(0);
        let parts: Vec<&str> = if p.explode && p.style == ParamStyle::Form {
            values.to_vec()
        } else {
            let [one] = values else {
                return Err("repeated");
            };
            if one.is_empty() {
                Vec::new()
            } else {
                one.split(delimiter(p.style)).collect()
            }
        };
        return Ok(Value::Array(
            parts.iter().map(|s| coerce(s, item_types)).collect(),
        ));
    }
    let [one] = values else {
        return Err("repeated");
    };
    if expected & types::OBJECT != 0 && expected & !(types::OBJECT | types::NULL) == 0 {
        let mut m = Map::new();
        let items: Vec<&str> = one.split(',').collect();
        if p.explode {
            for kv in items.iter().filter(|s| !s.is_empty()) {
                let (k, val) = kv.split_once('=').ok_or("malformed")?;
                let t = v
                    .property_schema(p.schema, k)
                    .map(|s| v.value_types(s))
                    .unwrap_or(0);
                m.insert(k.to_string(), coerce(val, t));
            }
        } else {
            if !items.len().is_multiple_of(2) {
                return Err("malformed");
            }
            for kv in items.chunks(2) {
                let t = v
                    .property_schema(p.schema, kv[0])
                    .map(|s| v.value_types(s))
                    .unwrap_or(0);
                m.insert(kv[0].to_string(), coerce(kv[1], t));
            }
        }
        return Ok(Value::Object(m));
    }
    Ok(coerce(one, expected))
}

/// Builds a deepObject parameter (`name[key]=value`) from query pairs.
pub fn decode_deep_object(
    v: &Validator,
    p: &Parameter,
    pairs: &[(String, String)],
) -> Option<Value> {
    let prefix = format!("{}[", p.name);
    let mut m = Map::new();
    for (k, val) in pairs {
        if let Some(inner) = k.strip_prefix(&prefix).and_then(|r| r.strip_suffix(']')) {
            let t = v
                .property_schema(p.schema, inner)
                .map(|s| v.value_types(s))
                .unwrap_or(0);
            m.insert(inner.to_string(), coerce(val, t));
        }
    }
    if m.is_empty() {
        None
    } else {
        Some(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert!(percent_decode("%zz", false).is_none());
        assert!(percent_decode("%ff", false).is_none());
        assert!(percent_decode("%2", false).is_none());
        assert_eq!(
            parse_query("a=1&b=&c&d=x%3Dy").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "".into()),
                ("d".into(), "x=y".into())
            ]
        );
        assert_eq!(
            parse_cookies("a=1; b = 2;c"),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn coercion() {
        assert_eq!(coerce("12", types::INTEGER), Value::from(12));
        // Not an integer: kept as the number it is, so validation says `type`.
        assert_eq!(coerce("1.5", types::INTEGER), serde_json::json!(1.5));
        assert_eq!(coerce("1.5", types::NUMBER), serde_json::json!(1.5));
        assert_eq!(coerce("NaN", types::NUMBER), Value::String("NaN".into()));
        assert_eq!(coerce("true", types::BOOL), Value::Bool(true));
        assert_eq!(coerce("x", 0), Value::String("x".into()));
    }
}
