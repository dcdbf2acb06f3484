//! Unit tests of hiding the runtime's mount points from `diff`.

use super::*;

#[test]
fn runtime_mount_points_are_hidden_but_real_changes_stay() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path();
    std::fs::create_dir_all(up.join("proc")).unwrap();
    std::fs::create_dir_all(up.join("sbin")).unwrap();
    std::fs::write(up.join("sbin/docker-init"), b"").unwrap();
    std::fs::create_dir_all(up.join("etc")).unwrap();
    std::fs::write(up.join("etc/hosts"), b"").unwrap();
    std::fs::write(up.join("etc/motd"), b"hi").unwrap();
    std::fs::create_dir_all(up.join("sys/x")).unwrap();
    let mps: std::collections::HashSet<String> =
        ["/proc", "/sys", "/etc/hosts", "/sbin/docker-init"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    let changes = vec![
        ('C', "/etc".to_owned()),
        ('A', "/etc/hosts".to_owned()),
        ('A', "/etc/motd".to_owned()),
        ('A', "/proc".to_owned()),
        ('A', "/sbin".to_owned()),
        ('A', "/sbin/docker-init".to_owned()),
        ('A', "/sys".to_owned()),
        ('A', "/sys/x".to_owned()),
    ];
    let kept = hide_mountpoints(changes, &mps, up);
    assert_eq!(
        kept,
        vec![
            ('C', "/etc".to_owned()),
            ('A', "/etc/motd".to_owned()),
            ('A', "/sys".to_owned()),
            ('A', "/sys/x".to_owned()),
        ]
    );
}
