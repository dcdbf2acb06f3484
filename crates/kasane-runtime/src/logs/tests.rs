//! Unit tests of the json-file log writer and reader.

use jiff::SignedDuration;

use super::read::parse_go_duration;
use super::*;
use std::sync::atomic::{AtomicBool, Ordering};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn logs_of(path: &Path) -> Vec<(String, String)> {
    lines(path)
        .into_iter()
        .map(|v| {
            (
                v["stream"].as_str().unwrap().to_owned(),
                v["log"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn entry_line(stream: &str, log: &str, time: &str) -> String {
    serde_json::json!({"log": log, "stream": stream, "time": time}).to_string() + "\n"
}

/// A log file with five entries a second apart, plus junk lines.
fn sample(dir: &Path) -> PathBuf {
    let path = dir.join("c-json.log");
    let mut s = String::new();
    s += &entry_line("stdout", "one\n", "2026-11-22T10:00:01.000000000Z");
    s += &entry_line("stderr", "two\n", "2026-11-22T10:00:02.000000000Z");
    s += "not json at all\n";
    s += "{\"log\":\"no stream\"}\n";
    s += &entry_line("stdout", "thr", "2026-11-22T10:00:03.5Z");
    s += &entry_line("stdout", "ee\n", "2026-11-22T10:00:03.600000000Z");
    s += &entry_line("stderr", "four\n", "2026-11-22T11:00:04+01:00");
    s += "\n";
    s += &entry_line("stdout", "five\n", "2026-11-22T10:00:05.123456789Z");
    std::fs::write(&path, s).unwrap();
    path
}

fn read(path: &Path, opts: &LogReadOptions) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    read_logs(path, opts, &|| false, &mut out, &mut err).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn entry_format_is_docker_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut w = LogWriter::open(&path).unwrap();
    w.write(Stream::Stdout, b"hello\n").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, time) = text.split_once(r#","time":""#).unwrap();
    assert_eq!(head, r#"{"log":"hello\n","stream":"stdout""#);
    let time = time.strip_suffix("\"}\n").unwrap();
    // 2026-11-22T19:24:47.123456789Z: fixed nine fractional digits, UTC.
    assert_eq!(time.len(), 30, "{time}");
    assert_eq!(&time[19..20], ".");
    assert!(time[20..29].bytes().all(|b| b.is_ascii_digit()));
    assert!(time.ends_with('Z'));
    let t: Timestamp = time.parse().unwrap();
    assert!(Timestamp::now().duration_since(t).as_secs().abs() < 60);
    assert_eq!(
        format_time(ts("2026-11-22T19:24:47.1Z")),
        "2026-11-22T19:24:47.100000000Z"
    );
}

#[test]
fn file_is_created_0640_and_appended() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    LogWriter::open(&path)
        .unwrap()
        .write(Stream::Stdout, b"a\n")
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "mode {mode:o}");
    LogWriter::open(&path)
        .unwrap()
        .write(Stream::Stderr, b"b\n")
        .unwrap();
    assert_eq!(
        logs_of(&path),
        [
            ("stdout".into(), "a\n".into()),
            ("stderr".into(), "b\n".into())
        ]
    );
    let err = LogWriter::open(&dir.path().join("no/such/dir.log")).unwrap_err();
    assert!(err.to_string().starts_with("opening log file "));
}

#[test]
fn lines_are_split_and_partials_buffered_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut w = LogWriter::open(&path).unwrap();
    w.write(Stream::Stdout, b"a\nb\nhal").unwrap();
    w.write(Stream::Stderr, b"err").unwrap();
    w.write(Stream::Stdout, b"f\n").unwrap();
    w.write(Stream::Stderr, b"or\n\n").unwrap();
    w.write(Stream::Stdout, b"tail").unwrap();
    assert_eq!(
        logs_of(&path),
        [
            ("stdout".into(), "a\n".into()),
            ("stdout".into(), "b\n".into()),
            ("stdout".into(), "half\n".into()),
            ("stderr".into(), "error\n".into()),
            ("stderr".into(), "\n".into()),
        ]
    );
    w.flush_partial().unwrap();
    w.flush_partial().unwrap(); // nothing left: no empty entry
    assert_eq!(
        logs_of(&path).last().unwrap(),
        &("stdout".into(), "tail".into())
    );
    assert_eq!(logs_of(&path).len(), 6);
}

#[test]
fn long_lines_become_16k_partials_on_char_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut w = LogWriter::open(&path).unwrap();
    // 16383 ASCII bytes then "é" (2 bytes) would split at 16384: the cut moves before it.
    let mut line = "x".repeat(MAX_ENTRY - 1);
    line.push('é');
    line.push_str("yz\n");
    for chunk in line.as_bytes().chunks(1000) {
        w.write(Stream::Stdout, chunk).unwrap();
    }
    let logs = logs_of(&path);
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].1, "x".repeat(MAX_ENTRY - 1));
    assert_eq!(logs[1].1, "éyz\n");

    // Exactly 16 KiB without newline is written as soon as it is complete.
    let path2 = dir.path().join("c2-json.log");
    let mut w = LogWriter::open(&path2).unwrap();
    w.write(Stream::Stderr, "a".repeat(MAX_ENTRY * 2 + 5).as_bytes())
        .unwrap();
    let logs = logs_of(&path2);
    assert_eq!(logs.len(), 2);
    assert!(logs.iter().all(|(_, l)| l.len() == MAX_ENTRY));
    w.flush_partial().unwrap();
    assert_eq!(logs_of(&path2)[2].1, "aaaaa");
}

#[test]
fn utf8_cut_points() {
    assert_eq!(utf8_cut(b"abc"), 3);
    assert_eq!(utf8_cut("ab\u{e9}".as_bytes()), 4); // complete 2-byte char at the end
    assert_eq!(utf8_cut(&"ab\u{e9}".as_bytes()[..3]), 2); // lead byte only
    assert_eq!(utf8_cut(&"a\u{20ac}".as_bytes()[..3]), 1); // 2 of 3 bytes
    assert_eq!(utf8_cut(&"\u{20ac}".as_bytes()[..2]), 2); // nothing before: keep all
    assert_eq!(utf8_cut(&[0x80, 0x80, 0x80, 0x80]), 4); // not UTF-8: cut anywhere
    assert_eq!(utf8_cut(b""), 0);
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut w = LogWriter::open(&path).unwrap();
    w.write(Stream::Stdout, b"\xff\xfeok\n\"quoted\"\t\n")
        .unwrap();
    let logs = logs_of(&path);
    assert_eq!(logs[0].1, "\u{fffd}\u{fffd}ok\n");
    assert_eq!(logs[1].1, "\"quoted\"\t\n");
}

#[test]
fn copy_stream_logs_echoes_and_flushes_at_eof() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let log = SharedLogWriter::open(&path).unwrap();
    let mut echoed = Vec::new();
    let n = copy_stream(
        &b"line 1\nline 2\nno newline"[..],
        Stream::Stdout,
        &log,
        Some(&mut echoed),
    )
    .unwrap();
    assert_eq!(n, 24);
    assert_eq!(echoed, b"line 1\nline 2\nno newline");
    let logs = logs_of(&path);
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[2].1, "no newline");

    // A broken echo does not stop the logging.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    copy_stream(&b"more\n"[..], Stream::Stderr, &log, Some(&mut Broken)).unwrap();
    assert_eq!(logs_of(&path)[3], ("stderr".into(), "more\n".into()));

    // A failing source is reported with its stream.
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::ConnectionReset.into())
        }
    }
    let err = copy_stream(Failing, Stream::Stderr, &log, None).unwrap_err();
    assert_eq!(err.to_string(), "reading container stderr");
}

#[test]
fn two_threads_share_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let log = SharedLogWriter::open(&path).unwrap();
    let threads: Vec<_> = [Stream::Stdout, Stream::Stderr]
        .into_iter()
        .map(|stream| {
            let log = log.clone();
            std::thread::spawn(move || {
                let data: String = (0..500).map(|i| format!("{stream} {i}\n")).collect();
                // Odd-sized chunks, so lines straddle writes.
                for chunk in data.as_bytes().chunks(7) {
                    log.write(stream, chunk).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let logs = logs_of(&path);
    assert_eq!(logs.len(), 1000);
    for stream in ["stdout", "stderr"] {
        let mine: Vec<String> = logs
            .iter()
            .filter(|(s, _)| s == stream)
            .map(|(_, l)| l.clone())
            .collect();
        let want: Vec<String> = (0..500).map(|i| format!("{stream} {i}\n")).collect();
        assert_eq!(mine, want);
    }
}

#[test]
fn read_all_skips_malformed_and_splits_streams() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let (out, err) = read(&path, &LogReadOptions::default());
    assert_eq!(out, "one\nthree\nfive\n");
    assert_eq!(err, "two\nfour\n");
}

#[test]
fn read_missing_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = read(&dir.path().join("nope.log"), &LogReadOptions::default());
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
}

#[test]
fn read_with_timestamps_tail_since_until() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let o = LogReadOptions {
        timestamps: true,
        tail: Some(2),
        ..Default::default()
    };
    let (out, err) = read(&path, &o);
    assert_eq!(out, "2026-11-22T10:00:05.123456789Z five\n");
    assert_eq!(err, "2026-11-22T10:00:04.000000000Z four\n");

    let o = LogReadOptions {
        tail: Some(0),
        ..Default::default()
    };
    assert_eq!(read(&path, &o), (String::new(), String::new()));

    let o = LogReadOptions {
        since: Some(ts("2026-11-22T10:00:02Z")),
        until: Some(ts("2026-11-22T10:00:04Z")),
        ..Default::default()
    };
    assert_eq!(read(&path, &o), ("three\n".into(), "two\nfour\n".into()));

    // Tail first, then the time filter (docker's order).
    let o = LogReadOptions {
        tail: Some(3),
        until: Some(ts("2026-11-22T10:00:04Z")),
        ..Default::default()
    };
    assert_eq!(read(&path, &o), ("ee\n".into(), "four\n".into()));
}

#[test]
fn tail_reads_the_end_of_a_large_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut s = String::new();
    for i in 0..20_000 {
        s += &entry_line("stdout", &format!("line {i}\n"), "2026-11-22T10:00:01Z");
    }
    // Junk longer than the first window: the window grows past it to find entries.
    for _ in 0..1_000 {
        s += &format!("{}\n", "x".repeat(99));
    }
    s += entry_line("stderr", "last\n", "2026-11-22T10:00:02Z").trim_end();
    std::fs::write(&path, &s).unwrap();
    let tail = |n| LogReadOptions {
        tail: Some(n),
        ..LogReadOptions::default()
    };
    assert_eq!(
        read(&path, &tail(3)),
        ("line 19998\nline 19999\n".into(), "last\n".into())
    );
    assert_eq!(read(&path, &tail(0)), (String::new(), String::new()));
    let (out, err) = read(&path, &tail(30_000));
    assert_eq!((out.lines().count(), err.as_str()), (20_000, "last\n"));
    // Whatever the window's edge cuts, only whole entries come out.
    for n in [1, 2, 700, 701, 702, 1_500, 4_321] {
        let (out, _) = read(&path, &tail(n));
        let want: String = (20_000 + 1 - n..20_000)
            .map(|i| format!("line {i}\n"))
            .collect();
        assert_eq!(out, want, "tail {n}");
    }
}

#[test]
fn read_keeps_an_unterminated_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut s = entry_line("stdout", "a\n", "2026-11-22T10:00:01Z");
    s += entry_line("stdout", "b\n", "2026-11-22T10:00:02Z").trim_end();
    std::fs::write(&path, s).unwrap();
    assert_eq!(
        read(&path, &LogReadOptions::default()).0,
        "a\nb\n".to_owned()
    );
}

#[test]
fn follow_prints_new_entries_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let running = Arc::new(AtomicBool::new(true));
    let writer = {
        let (path, running) = (path.clone(), running.clone());
        std::thread::spawn(move || {
            // The file does not exist yet when the reader starts.
            std::thread::sleep(Duration::from_millis(120));
            let log = SharedLogWriter::open(&path).unwrap();
            for i in 0..5 {
                log.write(Stream::Stdout, format!("tick {i}\n").as_bytes())
                    .unwrap();
                std::thread::sleep(Duration::from_millis(30));
            }
            log.write(Stream::Stderr, b"bye").unwrap();
            log.flush_partial().unwrap();
            running.store(false, Ordering::SeqCst);
        })
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = LogReadOptions {
        follow: true,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    read_logs(
        &path,
        &o,
        &|| running.load(Ordering::SeqCst),
        &mut out,
        &mut err,
    )
    .unwrap();
    writer.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let want: String = (0..5).map(|i| format!("tick {i}\n")).collect();
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert_eq!(err, b"bye");
}

#[test]
fn follow_stops_once_until_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let o = LogReadOptions {
        follow: true,
        until: Some(Timestamp::now() + SignedDuration::from_millis(100)),
        ..Default::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // Never stops running: only `until` ends the follow.
    read_logs(&path, &o, &|| true, &mut out, &mut err).unwrap();
    assert_eq!(out, b"one\nthree\nfive\n");
}

#[test]
fn output_errors_are_reported() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let err = read_logs(
        &path,
        &LogReadOptions::default(),
        &|| false,
        &mut Closed,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(err, LogError::Output(_)), "{err:?}");
}

#[test]
fn since_forms() {
    let now = ts("2026-11-22T12:00:00Z");
    let p = |s: &str| parse_since(s, now).unwrap();
    assert_eq!(p("2026-11-22T19:24:47Z"), ts("2026-11-22T19:24:47Z"));
    assert_eq!(
        p("2026-11-22T19:24:47.123456789Z"),
        ts("2026-11-22T19:24:47.123456789Z")
    );
    assert_eq!(p("2026-11-22T20:24:47+01:00"), ts("2026-11-22T19:24:47Z"));
    assert_eq!(
        p("1700000000"),
        Timestamp::from_second(1_700_000_000).unwrap()
    );
    assert_eq!(
        p("1700000000.123"),
        Timestamp::new(1_700_000_000, 123_000_000).unwrap()
    );
    assert_eq!(p("10m"), ts("2026-11-22T11:50:00Z"));
    assert_eq!(p("1h30m"), ts("2026-11-22T10:30:00Z"));
    assert_eq!(p("42s"), ts("2026-11-22T11:59:18Z"));
    assert_eq!(p("1.5h"), ts("2026-11-22T10:30:00Z"));
    assert_eq!(p("250ms"), ts("2026-11-22T11:59:59.75Z"));
    assert_eq!(p("0"), now);
    assert_eq!(p("-1m"), ts("2026-11-22T12:01:00Z"));

    // Zone-less forms are local time; compare against jiff's own conversion.
    let local = |s: &str| {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::system())
            .unwrap()
            .timestamp()
    };
    assert_eq!(p("2026-11-22"), local("2026-11-22T00:00:00"));
    assert_eq!(p("2026-11-22T19:24:47"), local("2026-11-22T19:24:47"));
    assert_eq!(p("2026-11-22T19:24"), local("2026-11-22T19:24:00"));
    assert_eq!(p("2026-11-22T19"), local("2026-11-22T19:00:00"));

    assert_eq!(p("10"), Timestamp::from_second(10).unwrap()); // Unix seconds
    for bad in [
        "",
        "yesterday",
        "10x",
        "1h30",
        "m",
        ".s",
        "2026-13-01",
        "1700000000.",
        "1.2.3",
        "99999999999999999999999999999999999999999h",
        "--1m",
    ] {
        match parse_since(bad, now) {
            Err(LogError::InvalidTime(v)) => assert_eq!(v, bad),
            other => panic!("{bad:?} → {other:?}"),
        }
    }
    assert_eq!(
        parse_since("yesterday", now).unwrap_err().to_string(),
        "failed to parse value as time or duration: \"yesterday\""
    );
}

#[test]
fn go_durations() {
    assert_eq!(
        parse_go_duration("1h2m3s4ms5us6ns"),
        Some(3_723_004_005_006)
    );
    assert_eq!(parse_go_duration("1\u{b5}s"), Some(1_000));
    assert_eq!(parse_go_duration(".5s"), Some(500_000_000));
    assert_eq!(parse_go_duration("+3s"), Some(3_000_000_000));
    assert_eq!(parse_go_duration("3"), None);
    assert_eq!(parse_go_duration("3d"), None);
    assert_eq!(parse_go_duration(""), None);
    assert_eq!(parse_go_duration("-"), None);
    assert_eq!(parse_go_duration("3000000h"), None); // beyond Go's i64 nanoseconds
}
