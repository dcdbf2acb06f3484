//! Unit tests of the monitor's helpers.

use super::*;

#[test]
fn oom_of_unknown_container_is_false() {
    assert!(!oom_killed("0000-no-such-container"));
}

#[test]
fn pid_files_parse() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pid");
    std::fs::write(&p, "1234\n").unwrap();
    assert_eq!(read_pid(&p).unwrap(), 1234);
    std::fs::write(&p, "x").unwrap();
    assert!(read_pid(&p).is_err());
    assert!(read_pid(&dir.path().join("none")).is_err());
}
