//! Parameter decoding: raw path segments, query pairs, headers and cookies
//! into JSON values per OpenAPI `style`/`explode`, ready for the validator.
//! Text is coerced to the type the parameter's schema expects; text that
//! fits no expected type stays a string and fails validation there.

use std::borrow::Cow;

use specguard_policy::model::{ParamStyle, Parameter};

use crate::json::{Json, Member, Num};

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
pub fn coerce(text: &str, expected: u8) -> Json<'static> {
    if expected & types::INTEGER != 0 {
        if let Ok(i) = text.parse::<i64>() {
            return Json::Num(Num::I(i));
        }
    }
    if expected & (types::NUMBER | types::INTEGER) != 0 {
        // JSON number grammar only: no `+1`, `inf`, `NaN`, `.5`.
        let json_like = text
            .strip_prefix('-')
            .unwrap_or(text)
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit());
        if json_like {
            if let Ok(f) = text.parse::<f64>() {
                if f.is_finite() {
                    return Json::Num(Num::F(f));
                }
            }
        }
    }
    if expected & types::BOOL != 0 {
        match text {
            "true" => return Json::Bool(true),
            "false" => return Json::Bool(false),
            _ => {}
        }
    }
    if expected & types::NULL != 0 && text.is_empty() && expected & types::STRING == 0 {
        return Json::Null;
    }
    Json::Str(Cow::Owned(text.to_string()))
}

fn entry(key: &str, value: Json<'static>) -> Member<'static> {
    Member {
        key: Cow::Owned(key.to_string()),
        value,
        start: 0,
        end: 0,
    }
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
pub fn decode(
    v: &Validator,
    p: &Parameter,
    values: &[&str],
) -> Result<Json<'static>, &'static str> {
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
        return Ok(Json::Arr(
            parts.iter().map(|s| coerce(s, item_types)).collect(),
        ));
    }
    let [one] = values else {
        return Err("repeated");
    };
    if expected & types::OBJECT != 0 && expected & !(types::OBJECT | types::NULL) == 0 {
        let mut m: Vec<Member<'static>> = Vec::new();
        let items: Vec<&str> = one.split(',').collect();
        if p.explode {
            for kv in items.iter().filter(|s| !s.is_empty()) {
                let (k, val) = kv.split_once('=').ok_or("malformed")?;
                let t = v
                    .property_schema(p.schema, k)
                    .map(|s| v.value_types(s))
                    .unwrap_or(0);
                push_unique(&mut m, k, coerce(val, t))?;
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
                push_unique(&mut m, kv[0], coerce(kv[1], t))?;
            }
        }
        return Ok(Json::Obj(m));
    }
    Ok(coerce(one, expected))
}

/// Adds an object member; a key given twice is refused (as in bodies).
fn push_unique(
    m: &mut Vec<Member<'static>>,
    key: &str,
    value: Json<'static>,
) -> Result<(), &'static str> {
    if m.iter().any(|x| x.key == key) {
        return Err("repeated key");
    }
    m.push(entry(key, value));
    Ok(())
}

/// Builds a deepObject parameter (`name[key]=value`) from query pairs.
pub fn decode_deep_object(
    v: &Validator,
    p: &Parameter,
    pairs: &[(String, String)],
) -> Option<Result<Json<'static>, &'static str>> {
    let prefix = format!("{}[", p.name);
    let mut m: Vec<Member<'static>> = Vec::new();
    for (k, val) in pairs {
        if let Some(inner) = k.strip_prefix(&prefix).and_then(|r| r.strip_suffix(']')) {
            let t = v
                .property_schema(p.schema, inner)
                .map(|s| v.value_types(s))
                .unwrap_or(0);
            if let Err(e) = push_unique(&mut m, inner, coerce(val, t)) {
                return Some(Err(e));
            }
        }
    }
    if m.is_empty() {
        None
    } else {
        Some(Ok(Json::Obj(m)))
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
        let s = |t: &str| Json::Str(Cow::Owned(t.to_string()));
        assert_eq!(coerce("12", types::INTEGER), Json::Num(Num::I(12)));
        // Not an integer: kept as the number it is, so validation says `type`.
        assert_eq!(coerce("1.5", types::INTEGER), Json::Num(Num::F(1.5)));
        assert_eq!(coerce("1.5", types::NUMBER), Json::Num(Num::F(1.5)));
        assert_eq!(coerce("NaN", types::NUMBER), s("NaN"));
        assert_eq!(coerce("inf", types::NUMBER), s("inf"));
        assert_eq!(coerce("+1", types::NUMBER), s("+1"));
        assert_eq!(coerce("true", types::BOOL), Json::Bool(true));
        assert_eq!(coerce("x", 0), s("x"));
    }
}
