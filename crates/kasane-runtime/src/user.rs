//! Resolving `-u`/`USER` strings against the container's `/etc/passwd` and `/etc/group`.
//!
//! Rules are docker's (runc's `GetExecUser`): `""` is uid 0; a numeric user is a uid even
//! when passwd has no entry for it; a name must be in passwd; an explicit group (`:group`)
//! sets the gid (numeric allowed without an entry, a name must exist) and then there are no
//! supplementary groups; without one, the supplementary groups are those listing the matched
//! user name as a member. The files are read only when they are regular files reached
//! without following any symlink from the rootfs, so a hostile image cannot point them at
//! the host.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::SpecError;

/// Highest uid/gid docker accepts (`2^31 - 1`).
const MAX_ID: u64 = i32::MAX as u64;

/// A resolved user: what goes into `process.user`, and `HOME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups from `/etc/group` membership (not including `gid`).
    pub additional_gids: Vec<u32>,
    /// Home directory from passwd, if the user has an entry.
    pub home: Option<String>,
}

/// One `/etc/passwd` line.
struct PasswdEntry {
    name: String,
    uid: u64,
    gid: u64,
    home: String,
}

/// One `/etc/group` line.
struct GroupEntry {
    name: String,
    gid: u64,
    members: Vec<String>,
}

/// Resolves `spec` (`""`, `name`, `uid`, `uid:gid`, `name:group`, …) under `rootfs`.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<ResolvedUser, SpecError> {
    let passwd = read_rootfs_file(rootfs, "passwd")?.map(|s| parse_passwd(&s));
    let group = read_rootfs_file(rootfs, "group")?.map(|s| parse_group(&s));
    resolve(spec, passwd.as_deref(), group.as_deref())
}

/// The resolution itself, over parsed files (`None`: the file is absent).
fn resolve(
    spec: &str,
    passwd: Option<&[PasswdEntry]>,
    group: Option<&[GroupEntry]>,
) -> Result<ResolvedUser, SpecError> {
    let (user_arg, group_arg) = spec.split_once(':').unwrap_or((spec, ""));
    let uid_num = user_arg.parse::<u64>().ok();
    let gid_num = group_arg.parse::<u64>().ok();
    let range = |id: u64| {
        u32::try_from(id)
            .ok()
            .filter(|_| id <= MAX_ID)
            .ok_or_else(|| SpecError::IdOutOfRange(spec.to_owned()))
    };

    let (mut uid, mut gid, mut home, mut matched_name) = (0u64, 0u64, None, None);
    let found = passwd.unwrap_or_default().iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_num {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });
    if let Some(u) = found {
        (uid, gid) = (u.uid, u.gid);
        home = Some(u.home.clone());
        matched_name = Some(u.name.as_str());
    } else if !user_arg.is_empty() {
        uid = uid_num.ok_or_else(|| SpecError::UserNotFound(user_arg.to_owned()))?;
    }

    let groups = group.unwrap_or_default();
    let mut additional = Vec::new();
    if !group_arg.is_empty() {
        let g = groups.iter().find(|g| match gid_num {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        gid = match (g, gid_num) {
            (Some(g), _) => g.gid,
            (None, Some(n)) => n,
            (None, None) => return Err(SpecError::GroupNotFound(group_arg.to_owned())),
        };
    } else if let Some(name) = matched_name {
        for g in groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
        {
            additional.push(range(g.gid)?);
        }
    }
    Ok(ResolvedUser {
        uid: range(uid)?,
        gid: range(gid)?,
        additional_gids: additional,
        home,
    })
}

/// Reads `<rootfs>/etc/<name>` without following symlinks; `None` when absent or not a
/// regular file (docker then uses the defaults: uid 0, gid 0).
fn read_rootfs_file(rootfs: &Path, name: &str) -> Result<Option<String>, SpecError> {
    let rel = PathBuf::from("etc").join(name);
    let io = |source: std::io::Error| SpecError::ReadRootfs {
        path: rel.clone(),
        source,
    };
    let open = |dir: &dyn rustix::fd::AsFd, p: &str, dir_flag: OFlags| {
        rustix::fs::openat(
            dir,
            p,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | dir_flag,
            Mode::empty(),
        )
    };
    let root = rustix::fs::open(
        rootfs,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let absent = |e: rustix::io::Errno| {
        // ENOENT: absent; ELOOP: a symlink; ENOTDIR: `etc` is not a directory.
        matches!(
            e,
            rustix::io::Errno::NOENT | rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR
        )
    };
    let etc: OwnedFd = match open(&root, "etc", OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if absent(e) => return Ok(None),
        Err(e) => return Err(io(e.into())),
    };
    // O_NONBLOCK so that a FIFO planted as /etc/passwd cannot hang the open.
    let fd = match open(&etc, name, OFlags::NONBLOCK) {
        Ok(fd) => fd,
        Err(e) if absent(e) => return Ok(None),
        Err(e) => return Err(io(e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(None);
    }
    let mut text = String::new();
    let mut bytes = Vec::new();
    File::from(fd).read_to_end(&mut bytes).map_err(io)?;
    text.push_str(&String::from_utf8_lossy(&bytes));
    Ok(Some(text))
}

/// Parses passwd lines (`name:x:uid:gid:gecos:home:shell`), skipping malformed ones.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: (*f.first()?).to_owned(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Parses group lines (`name:x:gid:member,member`), skipping malformed ones.
fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: (*f.first()?).to_owned(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1::/usr/sbin:/bin/false\n\
                          app:x:1000:1000:App:/home/app:/bin/sh\n\
                          broken line\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root\napp:x:1000:\nstaff:x:50:app,other\n";

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/passwd"), PASSWD).expect("passwd");
        std::fs::write(dir.path().join("etc/group"), GROUP).expect("group");
        dir
    }

    fn user(uid: u32, gid: u32, extra: &[u32], home: Option<&str>) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            additional_gids: extra.to_vec(),
            home: home.map(str::to_owned),
        }
    }

    #[test]
    fn empty_is_root_with_memberships() {
        let r = rootfs();
        assert_eq!(
            resolve_user(r.path(), "").unwrap(),
            user(0, 0, &[10], Some("/root"))
        );
    }

    #[test]
    fn name_and_uid_forms() {
        let r = rootfs();
        let p = r.path();
        assert_eq!(
            resolve_user(p, "app").unwrap(),
            user(1000, 1000, &[50], Some("/home/app"))
        );
        assert_eq!(
            resolve_user(p, "1000").unwrap(),
            user(1000, 1000, &[50], Some("/home/app"))
        );
        // A numeric uid without an entry is allowed, with gid 0 and no home.
        assert_eq!(resolve_user(p, "4242").unwrap(), user(4242, 0, &[], None));
        // Explicit groups: no supplementary groups.
        assert_eq!(
            resolve_user(p, "1000:1000").unwrap(),
            user(1000, 1000, &[], Some("/home/app"))
        );
        assert_eq!(
            resolve_user(p, "app:staff").unwrap(),
            user(1000, 50, &[], Some("/home/app"))
        );
        assert_eq!(
            resolve_user(p, "4242:wheel").unwrap(),
            user(4242, 10, &[], None)
        );
        assert_eq!(
            resolve_user(p, "4242:777").unwrap(),
            user(4242, 777, &[], None)
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        let r = rootfs();
        let e = resolve_user(r.path(), "nobody").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        let e = resolve_user(r.path(), "app:nogroup").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert!(matches!(
            resolve_user(r.path(), "4294967296").unwrap_err(),
            SpecError::IdOutOfRange(_)
        ));
        assert!(matches!(
            resolve_user(r.path(), "2147483648").unwrap_err(),
            SpecError::IdOutOfRange(_)
        ));
    }

    #[test]
    fn missing_files_give_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(resolve_user(dir.path(), "").unwrap(), user(0, 0, &[], None));
        assert_eq!(
            resolve_user(dir.path(), "5:6").unwrap(),
            user(5, 6, &[], None)
        );
        assert!(resolve_user(dir.path(), "app").is_err());
    }

    #[test]
    fn symlinks_out_of_the_rootfs_are_not_followed() {
        let outside = rootfs();
        // /etc/passwd a symlink to the "host" file.
        let r = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(r.path().join("etc")).expect("mkdir");
        std::os::unix::fs::symlink(
            outside.path().join("etc/passwd"),
            r.path().join("etc/passwd"),
        )
        .expect("symlink");
        assert!(resolve_user(r.path(), "app").is_err());
        // /etc itself a symlink.
        let r2 = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path().join("etc"), r2.path().join("etc"))
            .expect("symlink");
        assert!(resolve_user(r2.path(), "app").is_err());
        assert_eq!(resolve_user(r2.path(), "").unwrap(), user(0, 0, &[], None));
    }

    #[test]
    fn directories_are_not_read() {
        let r = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(r.path().join("etc/passwd")).expect("mkdir");
        assert_eq!(resolve_user(r.path(), "").unwrap(), user(0, 0, &[], None));
    }
}
