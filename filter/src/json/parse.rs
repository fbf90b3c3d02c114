//! The strict JSON parser (RFC 8259) with bounds enforced while parsing:
//! invalid UTF-8, duplicate keys, nesting, total keys, string length and
//! array length are refused before anything is built past the bound.
//! Errors name a byte offset, never the input.

use std::borrow::Cow;

use super::{Json, Member, Num};

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

/// Parses `input` as one JSON document within `limits`.
pub fn parse(input: &[u8], limits: JsonLimits) -> Result<Json<'_>, JsonError> {
    let text = std::str::from_utf8(input).map_err(|_| JsonError::InvalidUtf8)?;
    if input.len() > u32::MAX as usize {
        return Err(JsonError::StringTooLong(limits.max_string));
    }
    let mut p = Parser {
        s: text,
        b: input,
        i: 0,
        limits,
        keys: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.syntax("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    limits: JsonLimits,
    keys: u32,
}

/// FNV-1a, for duplicate-key detection in large objects.
fn key_hash(k: &str) -> u64 {
    k.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Objects with more members than this detect duplicates by hash.
const LINEAR_DUP_CHECK: usize = 16;

impl<'a> Parser<'a> {
    fn syntax(&self, what: &str) -> JsonError {
        JsonError::Syntax(format!("{what} at byte {}", self.i))
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, depth: u32) -> Result<Json<'a>, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax("unexpected character")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Json<'a>) -> Result<Json<'a>, JsonError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn enter(&self, depth: u32) -> Result<(), JsonError> {
        if depth > self.limits.max_depth {
            return Err(JsonError::TooDeep(self.limits.max_depth));
        }
        Ok(())
    }

    fn object(&mut self, depth: u32) -> Result<Json<'a>, JsonError> {
        self.enter(depth)?;
        self.i += 1;
        let mut members: Vec<Member<'a>> = Vec::new();
        let mut hashes: Vec<u64> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Obj(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let start = self.i as u32;
            let key = self.string()?;
            self.keys += 1;
            if self.keys > self.limits.max_keys {
                return Err(JsonError::TooManyKeys(self.limits.max_keys));
            }
            // Duplicate keys: linear for small objects, by hash beyond.
            if members.len() < LINEAR_DUP_CHECK {
                if members.iter().any(|m| m.key == key) {
                    return Err(JsonError::DuplicateKey);
                }
            } else {
                if hashes.is_empty() {
                    hashes = members.iter().map(|m| key_hash(&m.key)).collect();
                }
                let h = key_hash(&key);
                if hashes
                    .iter()
                    .zip(&members)
                    .any(|(x, m)| *x == h && m.key == key)
                {
                    return Err(JsonError::DuplicateKey);
                }
                hashes.push(h);
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let value = self.value(depth)?;
            members.push(Member {
                key,
                value,
                start,
                end: self.i as u32,
            });
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(members));
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: u32) -> Result<Json<'a>, JsonError> {
        self.enter(depth)?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            if items.len() >= self.limits.max_array as usize {
                return Err(JsonError::ArrayTooLong(self.limits.max_array));
            }
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(self.syntax("expected ',' or ']'")),
            }
        }
    }

    /// A string at `self.i` (the opening quote). Borrowed unless escaped.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.i += 1;
        let start = self.i;
        let max = self.limits.max_string as usize;
        // Fast path: scan (within the bound) to the first quote, backslash or
        // control character in one tight loop.
        let window = &self.b[start..self.b.len().min(start + max + 1)];
        match window
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        {
            Some(n) => {
                self.i = start + n;
                match window[n] {
                    b'"' => {
                        self.i += 1;
                        return Ok(Cow::Borrowed(&self.s[start..start + n]));
                    }
                    b'\\' => {}
                    _ => return Err(self.syntax("control character in string")),
                }
            }
            None if window.len() > max => {
                return Err(JsonError::StringTooLong(self.limits.max_string))
            }
            None => {
                self.i = self.b.len();
                return Err(self.syntax("unterminated string"));
            }
        }
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.s[start..self.i]);
        loop {
            if out.len() > max {
                return Err(JsonError::StringTooLong(self.limits.max_string));
            }
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.i..].starts_with(b"\\u") {
                                    return Err(self.syntax("lone surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.syntax("lone surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.syntax("lone surrogate"));
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(code)
                                    .ok_or_else(|| self.syntax("invalid escape"))?,
                            );
                            continue;
                        }
                        _ => return Err(self.syntax("invalid escape")),
                    };
                    out.push(c);
                    self.i += 1;
                }
                Some(c) if c < 0x20 => return Err(self.syntax("control character in string")),
                Some(_) => {
                    // Copy the run up to the next quote or backslash (UTF-8 safe:
                    // both are ASCII, so the run ends on a char boundary).
                    let run = self.i;
                    while let Some(c) = self.peek() {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(&self.s[run..self.i]);
                }
                None => return Err(self.syntax("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.syntax("short \\u escape"))?;
        let mut v = 0u32;
        for d in digits {
            v = v * 16
                + (*d as char)
                    .to_digit(16)
                    .ok_or_else(|| self.syntax("bad \\u escape"))?;
        }
        self.i += 4;
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("invalid number")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.syntax("invalid number"));
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("invalid number"));
            }
            float = true;
        }
        let text = &self.s[start..self.i];
        if let Some(f) = fast_decimal(text) {
            return Ok(Json::Num(if float { Num::F(f) } else { Num::I(f as i64) }));
        }
        if !float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Json::Num(Num::I(i)));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Json::Num(Num::U(u)));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Json::Num(Num::F(f))),
            _ => Err(self.syntax("number out of range")),
        }
    }
}

/// Clinger's fast path: a decimal with at most 15 significant digits and no
/// exponent is `digits / 10^scale`, both exact in f64, so one correctly
/// rounded division gives the exact nearest double. Anything else goes to
/// the full parser.
fn fast_decimal(text: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut scale = 0usize;
    let mut seen_dot = false;
    for c in body.bytes() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if seen_dot {
                    scale += 1;
                }
                if digits > 15 {
                    return None;
                }
            }
            b'.' => seen_dot = true,
            _ => return None,
        }
    }
    let v = mantissa as f64 / POW10[scale];
    // -0 stays a float zero with its sign, as JSON wrote it.
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const L: JsonLimits = JsonLimits {
        max_depth: 4,
        max_keys: 5,
        max_string: 8,
        max_array: 3,
    };
    const WIDE: JsonLimits = JsonLimits {
        max_depth: 64,
        max_keys: 10_000,
        max_string: 10_000,
        max_array: 10_000,
    };

    #[test]
    fn agrees_with_serde_json_on_valid_documents() {
        for text in [
            r#"{"a": [1, 2.5, "x", true, false, null], "b": {"c": -0.0e+1}}"#,
            r#""\u00e9\ud83d\ude00\n\t\"\\\/""#,
            "[]",
            "{}",
            " 0 ",
            "-12",
            "18446744073709551615",
            "-9223372036854775808",
            "1E400",
            "123456789012345678901234567890",
            r#"{"k\u0041": "v"}"#,
            "\"caf\u{e9} \u{1F600}\"",
        ] {
            let ours = parse(text.as_bytes(), WIDE);
            let theirs = serde_json::from_str::<Value>(text);
            match (ours, theirs) {
                (Ok(a), Ok(b)) => {
                    assert!(super::super::json_eq(&a, &Json::from_value(&b)), "{text}")
                }
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{text}: ours {a:?}, serde {b:?}"),
            }
        }
    }

    #[test]
    fn fast_decimals_match_the_full_parser() {
        for t in [
            "9.99",
            "0.1",
            "-0.5",
            "123456789.12345",
            "0.00000000000001",
            "19.99",
            "1",
            "-0",
            "999999999999999",
        ] {
            let fast = fast_decimal(t).unwrap();
            assert_eq!(fast.to_bits(), t.parse::<f64>().unwrap().to_bits(), "{t}");
        }
        assert_eq!(fast_decimal("1234567890123456"), None);
        assert_eq!(fast_decimal("1e5"), None);
        assert_eq!(fast_decimal("0.000000000000001"), None);
        assert_eq!(parse(b"-0", WIDE), Ok(Json::Num(Num::I(0))));
        assert_eq!(parse(b"42", WIDE), Ok(Json::Num(Num::I(42))));
        assert_eq!(parse(b"2.50", WIDE), Ok(Json::Num(Num::F(2.5))));
    }

    #[test]
    fn refuses_what_rfc_8259_refuses() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "-",
            "+1",
            "1e",
            "0x10",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "\"\t\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "[1 2]",
            "{\"a\" 1}",
            "{1: 2}",
            "'a'",
            "\"abc",
            "[\"a\"] x",
            "{} {}",
        ] {
            assert!(
                matches!(parse(text.as_bytes(), WIDE), Err(JsonError::Syntax(_))),
                "{text:?} must be refused"
            );
        }
    }

    #[test]
    fn each_bound_is_enforced_at_the_edge() {
        assert!(parse(b"[[[[1]]]]", L).is_ok());
        assert_eq!(parse(b"[[[[[1]]]]]", L), Err(JsonError::TooDeep(4)));
        assert_eq!(
            parse(br#"{"a":{"b":{"c":{"d":{}}}}}"#, L),
            Err(JsonError::TooDeep(4))
        );
        assert!(parse(br#"{"a":1,"b":2,"c":3,"d":4,"e":5}"#, L).is_ok());
        assert_eq!(
            parse(br#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}"#, L),
            Err(JsonError::TooManyKeys(5))
        );
        assert_eq!(
            parse(br#"[{"a":1,"b":2,"c":3},{"d":4,"e":5,"f":6}]"#, L),
            Err(JsonError::TooManyKeys(5))
        );
        assert!(parse(br#""12345678""#, L).is_ok());
        assert_eq!(
            parse(br#""123456789""#, L),
            Err(JsonError::StringTooLong(8))
        );
        assert_eq!(
            parse(br#""1234567\n9""#, L),
            Err(JsonError::StringTooLong(8))
        );
        assert_eq!(
            parse(br#"{"123456789": 1}"#, L),
            Err(JsonError::StringTooLong(8))
        );
        assert!(parse(b"[1,2,3]", L).is_ok());
        assert_eq!(parse(b"[1,2,3,4]", L), Err(JsonError::ArrayTooLong(3)));
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(parse(deep.as_bytes(), WIDE), Err(JsonError::TooDeep(64)));
    }

    #[test]
    fn refuses_duplicates_and_bad_utf8() {
        assert_eq!(parse(br#"{"a":1,"a":2}"#, L), Err(JsonError::DuplicateKey));
        assert_eq!(
            parse(br#"{"a":1,"\u0061":2}"#, WIDE),
            Err(JsonError::DuplicateKey)
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let ok = format!("{{{}}}", many.join(","));
        assert!(parse(ok.as_bytes(), WIDE).is_ok());
        let dup = format!("{{{}, \"k7\": 0}}", many.join(","));
        assert_eq!(parse(dup.as_bytes(), WIDE), Err(JsonError::DuplicateKey));
        assert_eq!(parse(b"\"\xff\"", L), Err(JsonError::InvalidUtf8));
        assert_eq!(parse(b"\"\xed\xa0\x80\"", L), Err(JsonError::InvalidUtf8));
    }

    #[test]
    fn members_know_their_place() {
        let text = br#"{ "a" : 1 , "b":[2]}"#;
        let Ok(Json::Obj(m)) = parse(text, WIDE) else {
            panic!()
        };
        assert_eq!(&text[m[0].start as usize..m[0].end as usize], br#""a" : 1"#);
        assert_eq!(&text[m[1].start as usize..m[1].end as usize], br#""b":[2]"#);
    }

    #[test]
    fn syntax_errors_do_not_echo_input() {
        let Err(JsonError::Syntax(msg)) = parse(br#"{"secret-token-123": }"#, WIDE) else {
            panic!("expected syntax error")
        };
        assert!(!msg.contains("secret"), "{msg}");
    }
}
