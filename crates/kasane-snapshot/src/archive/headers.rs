//! Re-reading an entry's headers from the exact bytes the tar crate consumed for them.
//!
//! The tar crate frames the stream, but its PAX parser splits records at `\n` instead of using
//! their length prefix: a binary xattr value containing a newline byte (it happens in
//! `security.capability`) makes the record "malformed", and text inside a value can even be
//! taken for a `path` or `uid` record. Go's archive/tar (docker, containerd) parses by length.
//! So [`apply`](super::apply) keeps the bytes the parser read while looking for an entry and
//! this module parses them again, by the book: the extension headers (`x`, GNU `L`/`K`) and the
//! entry's own header. Names, link targets, owners, mtimes and xattrs come from here; the
//! tar crate's size is only cross-checked.
//!
//! Spec: POSIX.1-2008 `pax` (ustar header layout, extended header records); GNU tar's
//! `L`/`K` long-name entries and base-256 numbers.

use super::pax::parse_time;

/// An entry's headers, parsed from the raw bytes.
#[derive(Debug, Default)]
pub(crate) struct RawHeaders<'a> {
    /// The entry's own 512-byte header.
    pub header: &'a [u8],
    /// Data of the PAX `x` header in front of it.
    pub pax: Option<&'a [u8]>,
    /// Data of a GNU `L` entry (without the trailing NUL).
    pub long_name: Option<&'a [u8]>,
    /// Data of a GNU `K` entry (without the trailing NUL).
    pub long_link: Option<&'a [u8]>,
}

fn align(n: usize) -> Option<usize> {
    n.checked_add(511).map(|n| n & !511)
}

fn is_recognized(h: &[u8]) -> bool {
    &h[257..263] == b"ustar\0" || &h[257..265] == b"ustar  \0"
}

fn trim_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|c| *c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Finds the headers of the entry the tar crate just returned in `captured`: every byte it read
/// since the end of the previous entry's data, which was at stream offset `start`.
pub(crate) fn parse(captured: &[u8], start: u64) -> Result<RawHeaders<'_>, &'static str> {
    // The parser first skips the padding after the previous entry's data.
    let mut pos = ((512 - start % 512) % 512) as usize;
    let mut out = RawHeaders::default();
    loop {
        let h = captured.get(pos..pos + 512).ok_or("header not found")?;
        // The tar crate only treats these types as extensions when the header has a
        // ustar or GNU magic; otherwise it hands them out as entries.
        let ext = is_recognized(h) && matches!(h[156], b'x' | b'L' | b'K');
        if !ext {
            out.header = h;
            return Ok(out);
        }
        let size = numeric(&h[124..136]).ok_or("bad size field")?;
        let size = usize::try_from(size).map_err(|_| "bad size field")?;
        let data_start = pos + 512;
        let data = captured
            .get(data_start..data_start.checked_add(size).ok_or("bad size field")?)
            .ok_or("extension data not found")?;
        match h[156] {
            b'x' => out.pax = Some(data),
            b'L' => out.long_name = Some(trim_nul(data)),
            _ => out.long_link = Some(trim_nul(data)),
        }
        pos = data_start + align(size).ok_or("bad size field")?;
    }
}

/// A ustar/GNU number field: octal text (spaces and NULs around it), or GNU base-256 when the
/// high bit of the first byte is set. Negative base-256 numbers are refused.
pub(crate) fn numeric(field: &[u8]) -> Option<u64> {
    let first = *field.first()?;
    if first & 0x80 != 0 {
        if first & 0x40 != 0 {
            return None;
        }
        let mut v = u64::from(first & 0x3f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let text: &[u8] = {
        let start = field.iter().position(|c| *c != b' ' && *c != 0);
        match start {
            None => return Some(0),
            Some(s) => {
                let rest = &field[s..];
                let end = rest
                    .iter()
                    .position(|c| *c == b' ' || *c == 0)
                    .unwrap_or(rest.len());
                &rest[..end]
            }
        }
    };
    let mut v: u64 = 0;
    for c in text {
        if !(b'0'..=b'7').contains(c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// The entry name from the header fields (ustar `prefix/name`).
pub(crate) fn header_name(h: &[u8]) -> Vec<u8> {
    let name = trim_nul(&h[..100]);
    if &h[257..263] == b"ustar\0" {
        let prefix = trim_nul(&h[345..500]);
        if !prefix.is_empty() {
            let mut out = prefix.to_vec();
            out.push(b'/');
            out.extend_from_slice(name);
            return out;
        }
    }
    name.to_vec()
}

/// The link name field.
pub(crate) fn header_link(h: &[u8]) -> &[u8] {
    trim_nul(&h[157..257])
}

/// PAX records (`"<len> <key>=<value>\n"`) parsed by their length prefix.
pub(crate) fn records(
    mut data: &[u8],
) -> impl Iterator<Item = Result<(&[u8], &[u8]), &'static str>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let r = (|| {
            let sp = data.iter().position(|c| *c == b' ').ok_or("no length")?;
            let len: usize = std::str::from_utf8(&data[..sp])
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or("bad length")?;
            if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
                return Err("bad length");
            }
            let body = &data[sp + 1..len - 1];
            let eq = body.iter().position(|c| *c == b'=').ok_or("no '='")?;
            let rec = (&body[..eq], &body[eq + 1..]);
            data = &data[len..];
            Ok(rec)
        })();
        if r.is_err() {
            // Stop after the first error: the rest cannot be framed.
            data = &[];
        }
        Some(r)
    })
}

/// The values kasane takes from an entry's PAX records.
#[derive(Debug, Default)]
pub(crate) struct Pax<'a> {
    pub path: Option<&'a [u8]>,
    pub linkpath: Option<&'a [u8]>,
    pub size: Option<u64>,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
    pub mtime: Option<(i64, u32)>,
    /// `SCHILY.xattr.<name>` records: (name, value).
    pub xattrs: Vec<(&'a [u8], &'a [u8])>,
}

/// Interprets PAX records. An empty value removes the key (POSIX: "the field ... shall be
/// deleted"); a later record for the same key wins.
pub(crate) fn pax(data: &[u8]) -> Result<Pax<'_>, String> {
    let mut p = Pax::default();
    let num = |k: &[u8], v: &[u8]| -> Result<u64, String> {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "bad pax {} {:?}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                )
            })
    };
    for r in records(data) {
        let (k, v) = r.map_err(|e| format!("malformed pax record: {e}"))?;
        let empty = v.is_empty();
        match k {
            b"path" => p.path = (!empty).then_some(v),
            b"linkpath" => p.linkpath = (!empty).then_some(v),
            b"size" => p.size = if empty { None } else { Some(num(k, v)?) },
            b"uid" => p.uid = if empty { None } else { Some(num(k, v)?) },
            b"gid" => p.gid = if empty { None } else { Some(num(k, v)?) },
            b"mtime" => {
                p.mtime =
                    if empty {
                        None
                    } else {
                        Some(parse_time(v).ok_or_else(|| {
                            format!("bad pax mtime {:?}", String::from_utf8_lossy(v))
                        })?)
                    }
            }
            _ => {
                if let Some(name) = k.strip_prefix(crate::consts::PAX_XATTR_PREFIX.as_bytes()) {
                    p.xattrs.retain(|(n, _)| *n != name);
                    p.xattrs.push((name, v));
                }
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_framed_by_length_not_newlines() {
        // A value with newlines and something that looks like a record inside it.
        let value = b"a\n19 path=../../evil\nb";
        let mut data = Vec::new();
        super::super::pax::push_record(&mut data, b"SCHILY.xattr.user.x", value);
        super::super::pax::push_record(&mut data, b"path", b"good");
        let p = pax(&data).unwrap();
        assert_eq!(p.path, Some(&b"good"[..]));
        assert_eq!(p.xattrs, [(&b"user.x"[..], &value[..])]);
    }

    #[test]
    fn malformed_records_are_errors() {
        for bad in [&b"5 a=b"[..], b"x a=b\n", b"100 a=b\n", b"6 ab\n\n"] {
            assert!(pax(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let p = pax(b"8 path=\n").unwrap();
        assert_eq!(p.path, None);
    }

    #[test]
    fn numbers() {
        assert_eq!(numeric(b"0000644\0"), Some(0o644));
        assert_eq!(numeric(b"   644 \0"), Some(0o644));
        assert_eq!(numeric(b"\0\0\0\0\0\0\0\0"), Some(0));
        assert_eq!(
            numeric(&[0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]),
            Some(3_000_000)
        );
        assert_eq!(
            numeric(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(numeric(b"0009\0"), None);
    }
}
