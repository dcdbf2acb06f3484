//! Byte sizes as docker prints them (docker/go-units `size.go`; `docker-formats.md` §3).
//!
//! Algorithm: `s = bytes as f64`; while `s >= base` and not at the last unit, `s /= base`
//! (repeated float division, exactly as Go does it); then Go `%.<p>g` + unit, no space.
//! Negative input is never scaled (`-1B`).
//!
//! | function | base | units | precision | used by |
//! |---|---|---|---|---|
//! | [`human_size_with_precision`]`(x, 3)` | 1000 | `B kB MB …` | 3 | images/ps/history SIZE |
//! | [`human_size`] | 1000 | `B kB MB …` | 4 | reclaimed space, system df |
//! | [`bytes_size`] | 1024 | `B KiB MiB …` | 4 | stats, info memory |

use super::number::format_g;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn custom_size(bytes: f64, precision: usize, base: f64, units: &[&str]) -> String {
    let mut size = bytes;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", format_g(size, precision), units[i])
}

/// Docker `HumanSize`: base 1000, 4 significant digits (`1.024kB`, `999.5kB`, `1000kB`).
pub fn human_size(bytes: i64) -> String {
    human_size_with_precision(bytes, 4)
}

/// Docker `HumanSizeWithPrecision`: base 1000 with `precision` significant digits
/// (`precision = 3` gives the SIZE column: `1.98MB`, `1e+03kB`).
pub fn human_size_with_precision(bytes: i64, precision: usize) -> String {
    custom_size(bytes as f64, precision, 1000.0, &DECIMAL_UNITS)
}

/// Docker `BytesSize`: base 1024, 4 significant digits (`1.465KiB`, `1GiB`).
pub fn bytes_size(bytes: i64) -> String {
    custom_size(bytes as f64, 4, 1024.0, &BINARY_UNITS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// One row per case: bytes, then precision 3, precision 4 (HumanSize) and BytesSize.
    macro_rules! sizes {
        ($($name:ident: $bytes:expr => $p3:expr, $p4:expr, $bin:expr;)*) => {
            $(#[test] fn $name() {
                assert_eq!(
                    (
                        human_size_with_precision($bytes, 3).as_str(),
                        human_size($bytes).as_str(),
                        bytes_size($bytes).as_str(),
                    ),
                    ($p3, $p4, $bin),
                );
            })*
        };
    }

    sizes! {
        // The table of docker-formats.md §3, row by row.
        doc_0: 0 => "0B", "0B", "0B";
        doc_999: 999 => "999B", "999B", "999B";
        doc_1000: 1000 => "1kB", "1kB", "1000B";
        doc_1024: 1024 => "1.02kB", "1.024kB", "1KiB";
        doc_1500: 1500 => "1.5kB", "1.5kB", "1.465KiB";
        doc_4261234: 4261234 => "4.26MB", "4.261MB", "4.064MiB";
        doc_1982298: 1982298 => "1.98MB", "1.982MB", "1.89MiB";
        doc_187000000: 187000000 => "187MB", "187MB", "178.3MiB";
        doc_999499: 999499 => "999kB", "999.5kB", "976.1KiB";
        doc_999500: 999500 => "1e+03kB", "999.5kB", "976.1KiB";
        doc_999999: 999999 => "1e+03kB", "1000kB", "976.6KiB";
        doc_1073741824: 1073741824 => "1.07GB", "1.074GB", "1GiB";
        // More edge cases.
        negative_is_not_scaled: -1 => "-1B", "-1B", "-1B";
        negative_large: -5000 => "-5e+03B", "-5000B", "-5000B";
        one: 1 => "1B", "1B", "1B";
        just_below_binary_k: 1023 => "1.02kB", "1.023kB", "1023B";
        inspect_size: 1982307 => "1.98MB", "1.982MB", "1.89MiB";
        megabyte: 1_000_000 => "1MB", "1MB", "976.6KiB";
        mebibyte: 1_048_576 => "1.05MB", "1.049MB", "1MiB";
        ten_k: 10_000 => "10kB", "10kB", "9.766KiB";
        hundred_k: 100_000 => "100kB", "100kB", "97.66KiB";
        cp_example: 2048 => "2.05kB", "2.048kB", "2KiB";
        terabyte: 1_000_000_000_000 => "1TB", "1TB", "931.3GiB";
        i64_max: i64::MAX => "9.22EB", "9.223EB", "8EiB";
        tie_in_kb: 1_125 => "1.12kB", "1.125kB", "1.099KiB";
    }
}
