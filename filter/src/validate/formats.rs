//! `format` checks. Numeric formats bound numbers; string formats follow the
//! RFCs JSON Schema names (RFC 3339 dates, RFC 4122 UUIDs, RFC 1123
//! hostnames, RFC 4648 base64), written as small hand parsers: no regex, no
//! allocation.

use specguard_policy::schema::Format;

use crate::json::{Json, Num};

/// Whether `v` satisfies `f`. A format that does not apply to the value's
/// type passes (JSON Schema semantics).
pub fn check(f: Format, v: &Json) -> bool {
    match (f, v) {
        (Format::Int32, Json::Num(n)) => match n {
            Num::F(x) => x.fract() == 0.0 && *x >= i32::MIN as f64 && *x <= i32::MAX as f64,
            _ => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        },
        (Format::Int64, Json::Num(n)) => match n {
            Num::I(_) => true,
            Num::U(u) => i64::try_from(*u).is_ok(),
            Num::F(x) => {
                x.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(x)
            }
        },
        (Format::Float, Json::Num(n)) => n.as_f64().abs() <= f32::MAX as f64,
        (Format::Double, Json::Num(_)) => true,
        (_, Json::Str(s)) => check_str(f, s),
        _ => true,
    }
}

fn check_str(f: Format, s: &str) -> bool {
    match f {
        Format::Byte => base64(s),
        Format::Date => date(s),
        Format::DateTime => date_time(s),
        Format::Time => time(s),
        Format::Email => email(s),
        Format::Uuid => uuid(s),
        Format::Uri => uri(s),
        Format::Hostname => hostname(s),
        Format::Ipv4 => ipv4(s),
        Format::Ipv6 => s.parse::<std::net::Ipv6Addr>().is_ok(),
        Format::Int32 | Format::Int64 | Format::Float | Format::Double => true,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10]))
    else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// RFC 3339 `full-time`: `hh:mm:ss[.frac](Z|±hh:mm)`.
fn time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let (Some(h), Some(m), Some(sec)) = (digits(&b[0..2]), digits(&b[3..5]), digits(&b[6..8]))
    else {
        return false;
    };
    if h > 23 || m > 59 || sec > 60 {
        return false;
    }
    let mut rest = &b[8..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &rest[1 + n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', oh1, oh2, b':', om1, om2] => {
            matches!((digits(&[*oh1, *oh2]), digits(&[*om1, *om2])), (Some(oh), Some(om)) if oh <= 23 && om <= 59)
        }
        _ => false,
    }
}

fn date_time(s: &str) -> bool {
    match s.as_bytes().get(10) {
        Some(b'T' | b't' | b' ') => s.is_char_boundary(10) && date(&s[..10]) && time(&s[11..]),
        _ => false,
    }
}

fn email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&c))
        && hostname(domain)
        && domain.contains('.')
}

fn uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// RFC 3986 absolute URI: a scheme, `:`, and only characters a URI may hold.
fn uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut sb = scheme.bytes();
    sb.next().is_some_and(|c| c.is_ascii_alphabetic())
        && sb.all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.')
        && rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&c))
        && pct_ok(rest)
}

fn pct_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, c)| {
        *c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let l = label.as_bytes();
            !l.is_empty()
                && l.len() <= 63
                && l[0] != b'-'
                && l[l.len() - 1] != b'-'
                && l.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && (p.len() == 1 || !p.starts_with('0'))
                && digits(p.as_bytes()).is_some_and(|n| n <= 255)
        })
}

fn base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    pad <= 2
        && b[..b.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(f: Format, v: serde_json::Value) -> bool {
        check(f, &Json::from_value(&v))
    }

    #[test]
    fn formats() {
        assert!(ok(Format::Date, json!("2024-02-29")));
        assert!(!ok(Format::Date, json!("2023-02-29")));
        assert!(!ok(Format::Date, json!("2023-13-01")));
        assert!(ok(Format::DateTime, json!("2024-01-02T03:04:05Z")));
        assert!(ok(Format::DateTime, json!("2024-01-02T03:04:05.123+01:00")));
        assert!(!ok(Format::DateTime, json!("2024-01-02 03:04")));
        assert!(!ok(Format::DateTime, json!("2024-01-02T25:04:05Z")));
        assert!(ok(Format::Email, json!("a.b+c@example.com")));
        assert!(!ok(Format::Email, json!("a@b")));
        assert!(!ok(Format::Email, json!("@example.com")));
        assert!(ok(
            Format::Uuid,
            json!("123e4567-e89b-12d3-a456-426614174000")
        ));
        assert!(!ok(Format::Uuid, json!("123e4567e89b12d3a456426614174000")));
        assert!(ok(Format::Uri, json!("https://example.com/a?b=c#d")));
        assert!(!ok(Format::Uri, json!("/relative")));
        assert!(!ok(Format::Uri, json!("http://a b")));
        assert!(ok(Format::Hostname, json!("api.example.com")));
        assert!(!ok(Format::Hostname, json!("-bad.example.com")));
        assert!(ok(Format::Ipv4, json!("192.168.0.1")));
        assert!(!ok(Format::Ipv4, json!("192.168.0.256")));
        assert!(!ok(Format::Ipv4, json!("01.2.3.4")));
        assert!(ok(Format::Ipv6, json!("::1")));
        assert!(!ok(Format::Ipv6, json!("::g")));
        assert!(ok(Format::Byte, json!("aGVsbG8=")));
        assert!(!ok(Format::Byte, json!("aGVsbG8")));
        assert!(ok(Format::Int32, json!(2147483647)));
        assert!(!ok(Format::Int32, json!(2147483648i64)));
        assert!(ok(Format::Int64, json!(-9223372036854775808i64)));
        assert!(!ok(Format::Int64, json!(1e19)));
        assert!(!ok(Format::Float, json!(1e300)));
        assert!(ok(Format::Email, json!(5)));
    }
}
