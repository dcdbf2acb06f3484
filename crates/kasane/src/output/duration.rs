//! Durations and timestamps as docker prints them (`docker-formats.md` §4, §1.4, §1.6, §6).
//!
//! - [`human_duration`] is docker/go-units `HumanDuration` (`About a minute`, `2 weeks`).
//! - [`ago`] is the CREATED column: `HumanDuration(now − created) + " ago"` on whole seconds.
//! - [`go_time_string`] is Go's `time.Time.String()` (`2026-11-22 13:07:22 +0000 UTC`), used for
//!   `CreatedAt` columns and `time.Time` values in templates.
//! - [`rfc3339`] / [`rfc3339_nano`] are Go's `time.RFC3339` / `time.RFC3339Nano` layouts.
//!
//! Times are [`jiff::Timestamp`]s; the zone is explicit so callers choose between the local
//! zone ([`jiff::tz::TimeZone::system`], UTC when `TZ` is unset and no `/etc/localtime`) and UTC.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

/// Docker `HumanDuration` of a (non-negative) [`Duration`]; saturates like Go's `int64` nanos.
pub fn human_duration(d: Duration) -> String {
    let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    human_duration_nanos(nanos)
}

/// Docker `HumanDuration` of a signed number of seconds (negative → `Less than a second`).
pub fn human_duration_secs(secs: i64) -> String {
    human_duration_nanos(secs.saturating_mul(NANOS_PER_SECOND))
}

/// Go `Duration.Seconds/Minutes/Hours`: whole units plus the fractional remainder, as floats.
fn float_units(nanos: i64, unit: i64) -> f64 {
    (nanos / unit) as f64 + (nanos % unit) as f64 / unit as f64
}

/// docker/go-units `duration.go`, branch for branch (`docker-formats.md` §4.1).
fn human_duration_nanos(nanos: i64) -> String {
    let seconds = float_units(nanos, NANOS_PER_SECOND) as i64;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = float_units(nanos, NANOS_PER_MINUTE) as i64;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours_f = float_units(nanos, NANOS_PER_HOUR);
    let hours = (hours_f + 0.5) as i64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    // Go: int(d.Hours())/24/365, the unrounded hours.
    format!("{} years", hours_f as i64 / 24 / 365)
}

/// The CREATED column: `HumanDuration(now − created) + " ago"` on whole Unix seconds.
pub fn ago(created_unix: i64, now_unix: i64) -> String {
    format!(
        "{} ago",
        human_duration_secs(now_unix.saturating_sub(created_unix))
    )
}

/// Go `time.Time.String()` of `ts` in `tz`: `2006-01-02 15:04:05.999999999 -0700 MST`
/// (fraction trimmed of trailing zeros and omitted when zero; UTC prints `+0000 UTC`).
pub fn go_time_string(ts: Timestamp, tz: &TimeZone) -> String {
    let zoned = ts.to_zoned(tz.clone());
    let offset_seconds = zoned.offset().seconds();
    let mut out = zoned.strftime("%Y-%m-%d %H:%M:%S").to_string();
    push_fraction(&mut out, zoned.subsec_nanosecond());
    out.push(' ');
    let numeric = numeric_offset(offset_seconds, false);
    out.push_str(&numeric);
    out.push(' ');
    let info = tz.to_offset_info(ts);
    let abbreviation = info.abbreviation();
    if tz.iana_name() == Some("UTC") || (abbreviation.is_empty() && offset_seconds == 0) {
        out.push_str("UTC");
    } else if abbreviation.is_empty() || tz.to_fixed_offset().is_ok() {
        // Go prints a zone without a name (a fixed offset) as its -0700 offset.
        out.push_str(&numeric);
    } else {
        out.push_str(abbreviation);
    }
    out
}

/// Go `time.RFC3339` in `tz` (`2026-11-22T13:07:22Z`, `2026-11-22T14:07:22+01:00`).
pub fn rfc3339(ts: Timestamp, tz: &TimeZone) -> String {
    let zoned = ts.to_zoned(tz.clone());
    let mut out = zoned.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    out.push_str(&rfc3339_offset(zoned.offset().seconds()));
    out
}

/// Go `time.RFC3339Nano` in UTC (`2026-11-22T13:07:22.359603895Z`, trailing zeros dropped).
pub fn rfc3339_nano(ts: Timestamp) -> String {
    let zoned = ts.to_zoned(TimeZone::UTC);
    let mut out = zoned.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    push_fraction(&mut out, zoned.subsec_nanosecond());
    out.push('Z');
    out
}

/// Parses an RFC 3339 timestamp as Go's JSON decoder would and prints `time.Time.String()` in
/// the zone it was written in: `Z` → `+0000 UTC`, other offsets → `+0100 +0100`.
/// `None` when `s` is not RFC 3339.
pub fn go_time_string_of_rfc3339(s: &str) -> Option<String> {
    let ts: Timestamp = s.parse().ok()?;
    let offset = rfc3339_suffix_offset(s)?;
    if offset == 0 && (s.ends_with('Z') || s.ends_with('z')) {
        return Some(go_time_string(ts, &TimeZone::UTC));
    }
    let fixed = jiff::tz::Offset::from_seconds(offset).ok()?;
    Some(go_time_string(ts, &TimeZone::fixed(fixed)))
}

/// The offset in seconds written at the end of an RFC 3339 string (`Z` = 0).
fn rfc3339_suffix_offset(s: &str) -> Option<i32> {
    if s.ends_with('Z') || s.ends_with('z') {
        return Some(0);
    }
    let tail = s.get(s.len().checked_sub(6)?..)?;
    let sign = match tail.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i32 = tail.get(1..3)?.parse().ok()?;
    let minutes: i32 = tail.get(4..6)?.parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

fn push_fraction(out: &mut String, nanos: i32) {
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

/// `-0700` (or `-07:00` with `colon`).
fn numeric_offset(seconds: i32, colon: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    if colon {
        format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    } else {
        format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
    }
}

/// Go's `Z07:00`: `Z` for a zero offset, else `±hh:mm`.
fn rfc3339_offset(seconds: i32) -> String {
    if seconds == 0 {
        "Z".to_string()
    } else {
        numeric_offset(seconds, true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    macro_rules! durations {
        ($($name:ident: $secs:expr => $want:expr;)*) => {
            $(#[test] fn $name() { assert_eq!(human_duration_secs($secs), $want); })*
        };
    }

    const MIN: i64 = 60;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    durations! {
        negative: -5 => "Less than a second";
        zero: 0 => "Less than a second";
        one_second: 1 => "1 second";
        two_seconds: 2 => "2 seconds";
        fifty_nine_seconds: 59 => "59 seconds";
        sixty_seconds: 60 => "About a minute";
        almost_two_minutes: 119 => "About a minute";
        two_minutes: 120 => "2 minutes";
        fifty_nine_minutes: 59 * MIN + 59 => "59 minutes";
        one_hour: HOUR => "About an hour";
        eighty_nine_minutes: 89 * MIN => "About an hour";
        ninety_minutes_rounds_up: 90 * MIN => "2 hours";
        forty_seven_hours: 47 * HOUR => "47 hours";
        forty_seven_and_a_half_hours: 47 * HOUR + 30 * MIN => "2 days";
        two_days: 2 * DAY => "2 days";
        thirteen_days: 13 * DAY => "13 days";
        two_weeks: 14 * DAY => "2 weeks";
        eight_weeks: 59 * DAY => "8 weeks";
        two_months: 60 * DAY => "2 months";
        twenty_four_months: 729 * DAY => "24 months";
        two_years: 730 * DAY => "2 years";
        fifty_six_years: 56 * 365 * DAY + 20 * DAY => "56 years";
        saturates: i64::MAX => "292 years";
    }

    #[test]
    fn std_duration_uses_nanos() {
        let cases = [
            (Duration::from_millis(999), "Less than a second"),
            (Duration::from_millis(1999), "1 second"),
            (Duration::from_secs(3 * 60), "3 minutes"),
            (Duration::MAX, "292 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn ago_column() {
        let cases = [
            (100, 100, "Less than a second ago"),
            (100, 99, "Less than a second ago"),
            (100, 165, "About a minute ago"),
            (0, 1_795_000_000, "56 years ago"),
            (1_000, 1_000 + 14 * DAY, "2 weeks ago"),
        ];
        for (created, now, want) in cases {
            assert_eq!(ago(created, now), want, "{created} {now}");
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    #[rustfmt::skip]
    fn go_time_strings() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let fixed = TimeZone::fixed(jiff::tz::offset(-7));
        let cases = [
            ("2026-11-22T13:07:22Z", &TimeZone::UTC, "2026-11-22 13:07:22 +0000 UTC"),
            ("2026-11-22T13:07:22.368370251Z", &TimeZone::UTC, "2026-11-22 13:07:22.368370251 +0000 UTC"),
            ("2026-11-22T13:07:22.5Z", &TimeZone::UTC, "2026-11-22 13:07:22.5 +0000 UTC"),
            ("0001-01-01T00:00:00Z", &TimeZone::UTC, "0001-01-01 00:00:00 +0000 UTC"),
            ("2026-11-22T13:07:22Z", &paris, "2026-11-22 14:07:22 +0100 CET"),
            ("2026-07-01T13:07:22Z", &paris, "2026-07-01 15:07:22 +0200 CEST"),
            ("2026-11-22T13:07:22Z", &fixed, "2026-11-22 06:07:22 -0700 -0700"),
        ];
        for (input, tz, want) in cases {
            assert_eq!(go_time_string(ts(input), tz), want, "{input}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn go_time_string_from_json() {
        let cases = [
            ("2026-11-22T13:07:22.368370251Z", Some("2026-11-22 13:07:22.368370251 +0000 UTC")),
            ("0001-01-01T00:00:00Z", Some("0001-01-01 00:00:00 +0000 UTC")),
            ("2026-11-22T14:07:22+01:00", Some("2026-11-22 14:07:22 +0100 +0100")),
            ("not a time", None),
        ];
        for (input, want) in cases {
            assert_eq!(go_time_string_of_rfc3339(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn rfc3339_layouts() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        assert_eq!(rfc3339(ts("2026-11-22T13:07:22.9Z"), &TimeZone::UTC), "2026-11-22T13:07:22Z");
        assert_eq!(rfc3339(ts("2026-11-22T13:07:22Z"), &paris), "2026-11-22T14:07:22+01:00");
        assert_eq!(rfc3339_nano(ts("2026-11-22T13:07:22.359603895Z")), "2026-11-22T13:07:22.359603895Z");
        assert_eq!(rfc3339_nano(ts("2026-11-22T13:07:22.350Z")), "2026-11-22T13:07:22.35Z");
        assert_eq!(rfc3339_nano(ts("2026-11-22T13:07:22Z")), "2026-11-22T13:07:22Z");
    }
}
