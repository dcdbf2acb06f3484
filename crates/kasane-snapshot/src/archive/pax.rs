//! PAX extended-header records: writing them (the tar crate has no PAX writer) and parsing the
//! `mtime` value.
//!
//! Spec: POSIX.1-2008 `pax`, "pax Extended Header": each record is `"%d %s=%s\n"` where the
//! decimal length counts the whole record, its own digits included.

/// Appends one record `"<len> <key>=<value>\n"` to `out`.
pub(crate) fn push_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body + 1;
    loop {
        let total = body + digits(len);
        if total == len {
            break;
        }
        len = total;
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Parses a PAX time such as `1700000000`, `1700000000.25` or `-1.5` into seconds and
/// nanoseconds (nanoseconds always positive: `-1.5` is `(-2, 500_000_000)`).
pub(crate) fn parse_time(value: &[u8]) -> Option<(i64, u32)> {
    let (neg, rest) = match value.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, value),
    };
    let (int, frac) = match rest.iter().position(|b| *b == b'.') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let secs: i64 = std::str::from_utf8(int).ok()?.parse().ok()?;
    let mut nanos: u32 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| u32::from(d - b'0'));
    }
    if !neg {
        return Some((secs, nanos));
    }
    if nanos == 0 {
        Some((-secs, 0))
    } else {
        Some((-secs - 1, 1_000_000_000 - nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lengths_count_their_own_digits() {
        for (key, value, want) in [
            ("path", "a", "9 path=a\n"),
            (
                "path",
                "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu",
                "",
            ),
        ] {
            let mut out = Vec::new();
            push_record(&mut out, key.as_bytes(), value.as_bytes());
            let s = String::from_utf8(out).unwrap();
            let (len, _) = s.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), s.len(), "{s:?}");
            if !want.is_empty() {
                assert_eq!(s, want);
            }
        }
        // Around the 2 -> 3 digit boundary the length must still count itself.
        for n in 85..110 {
            let mut out = Vec::new();
            push_record(&mut out, b"k", &vec![b'v'; n]);
            let s = String::from_utf8(out).unwrap();
            let (len, _) = s.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), s.len(), "{n}");
        }
    }

    #[test]
    fn parses_pax_times() {
        assert_eq!(parse_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_time(b"1700000000.25"),
            Some((1_700_000_000, 250_000_000))
        );
        assert_eq!(parse_time(b"1.123456789999"), Some((1, 123_456_789)));
        assert_eq!(parse_time(b"-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_time(b"-3"), Some((-3, 0)));
        assert_eq!(parse_time(b""), None);
        assert_eq!(parse_time(b"1x"), None);
        assert_eq!(parse_time(b".5"), None);
    }
}
