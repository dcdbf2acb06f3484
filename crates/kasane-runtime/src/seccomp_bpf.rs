//! The embedded runtime's seccomp fast path: a profile compiled once to a BPF program,
//! cached on disk under its digest, and loaded just before the container's command runs.
//!
//! Why: libseccomp needs 8–10 ms of CPU to compile docker's ~360-rule profile, and youki
//! compiles it again inside every container's init — a fifth of a `run --rm … true`. crun
//! caches compiled filters the same way.
//!
//! How it stays equivalent: youki gets the spec without the profile and with `CAP_SYS_ADMIN`
//! and `CAP_SETPCAP` added to the bounding, permitted and effective sets. Just before the
//! command, [`SeccompExecutor`] loads the cached program — which takes `CAP_SYS_ADMIN`, as
//! no_new_privs stays unset as docker leaves it — then drops the capabilities to the spec's
//! own sets with youki's code, and executes the command with youki's default executor.
//! Profiles this cannot reproduce (notify actions, filter flags, no_new_privs, a profile that
//! would forbid the capability calls) take youki's own path.

use std::io::Write;
use std::path::{Path, PathBuf};

use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, Capability, LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator,
    Spec,
};

/// Capabilities youki must leave to [`SeccompExecutor`]: loading the filter without
/// no_new_privs, and dropping from the bounding set afterwards.
const LOADER_CAPABILITIES: [Capability; 2] = [Capability::SysAdmin, Capability::Setpcap];

/// Bumped when the compilation below changes, so old cache entries are not used.
const CACHE_FORMAT: &str = "kasane-seccomp-bpf-2";

/// The spec to give youki and the executor that applies the profile taken out of it.
pub(crate) struct Prepared {
    /// `spec` without `linux.seccomp`, with [`LOADER_CAPABILITIES`] added.
    pub spec: Spec,
    /// Loads the program and drops the capabilities to the original sets.
    pub executor: SeccompExecutor,
}

/// Loads a compiled seccomp program and drops the capabilities before running the command
/// (see the module docs).
#[derive(Clone)]
pub(crate) struct SeccompExecutor {
    program: Vec<u8>,
    capabilities: LinuxCapabilities,
}

/// The fast path for `spec` (of the bundle at `bundle`), compiling its profile into
/// `cache_dir` when no earlier container did; `None` when the spec needs youki's own seccomp
/// handling. The returned spec names its rootfs and bind sources by absolute paths, so it
/// can be read from another directory.
///
/// # Errors
/// The profile does not compile (a message naming the failure).
pub(crate) fn prepare(
    spec: &Spec,
    bundle: &Path,
    cache_dir: &Path,
) -> Result<Option<Prepared>, String> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok(None);
    };
    let Some(process) = spec.process().as_ref() else {
        return Ok(None);
    };
    let Some(capabilities) = process.capabilities().clone() else {
        return Ok(None);
    };
    // The executor restores exactly these sets; one left unset would keep the widened one.
    let complete = capabilities.bounding().is_some()
        && capabilities.permitted().is_some()
        && capabilities.effective().is_some();
    if !complete || process.no_new_privileges() == Some(true) || !reproducible(&seccomp) {
        return Ok(None);
    }
    let program = cached_program(&seccomp, cache_dir)?;

    let mut derived = spec.clone();
    let mut linux = derived.linux().clone().unwrap_or_default();
    linux.set_seccomp(None);
    derived.set_linux(Some(linux));
    let mut widened = capabilities.clone();
    let add = |set: &Option<oci_spec::runtime::Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(LOADER_CAPABILITIES);
        Some(set)
    };
    widened.set_bounding(add(capabilities.bounding()));
    widened.set_permitted(add(capabilities.permitted()));
    widened.set_effective(add(capabilities.effective()));
    let mut proc = process.clone();
    proc.set_capabilities(Some(widened));
    derived.set_process(Some(proc));
    if let Some(mut root) = derived.root().clone() {
        root.set_path(bundle.join(root.path()));
        derived.set_root(Some(root));
    }
    if let Some(mut mounts) = derived.mounts().clone() {
        for m in &mut mounts {
            let bind = m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind");
            if let Some(src) = m.source().clone().filter(|s| bind && s.is_relative()) {
                m.set_source(Some(bundle.join(src)));
            }
        }
        derived.set_mounts(Some(mounts));
    }
    Ok(Some(Prepared {
        spec: derived,
        executor: SeccompExecutor {
            program,
            capabilities,
        },
    }))
}

/// Whether a profile can be compiled here and applied by [`SeccompExecutor`]: no notify
/// action (its descriptor must reach a listener), no filter flags, and `capset` and `prctl`
/// allowed without conditions (the executor calls them after loading the filter).
fn reproducible(seccomp: &LinuxSeccomp) -> bool {
    let rules = seccomp.syscalls().as_deref().unwrap_or_default();
    let allowed_plainly = |name: &str| {
        seccomp.default_action() == LinuxSeccompAction::ScmpActAllow
            || rules.iter().any(|r| {
                r.action() == LinuxSeccompAction::ScmpActAllow
                    && r.args().as_ref().is_none_or(|a| a.is_empty())
                    && r.names().iter().any(|n| n == name)
            })
    };
    seccomp.default_action() != LinuxSeccompAction::ScmpActNotify
        && rules
            .iter()
            .all(|r| r.action() != LinuxSeccompAction::ScmpActNotify)
        && seccomp.flags().as_ref().is_none_or(|f| f.is_empty())
        && seccomp.listener_path().is_none()
        && allowed_plainly("capset")
        && allowed_plainly("prctl")
}

/// The program for `seccomp` from the cache, compiling and storing it on a miss. Entries are
/// named by the digest of the profile and of this compiler's version; each ends with the
/// sha256 of the program, so a torn write is recompiled, never loaded.
fn cached_program(seccomp: &LinuxSeccomp, cache_dir: &Path) -> Result<Vec<u8>, String> {
    let profile = serde_json::to_vec(seccomp).map_err(|e| format!("seccomp profile: {e}"))?;
    let mut keyed = format!("{CACHE_FORMAT}\n{}\n", libseccomp_version()).into_bytes();
    keyed.extend_from_slice(&profile);
    let key = kasane_oci::Digest::sha256_of(&keyed);
    let path = cache_dir.join(format!("{}.bpf", key.hex()));
    if let Ok(bytes) = std::fs::read(&path)
        && let Some(program) = checked(&bytes)
    {
        return Ok(program.to_vec());
    }
    let program = compile(seccomp)?;
    // A cache: a failed write only costs the next container a compile.
    let _ = store(&path, &program);
    Ok(program)
}

/// Bytes of the trailer after the program: its sha256 as hex text.
const TRAILER: usize = 64;

/// The program in a cache entry whose trailing digest matches it.
fn checked(entry: &[u8]) -> Option<&[u8]> {
    let split = entry.len().checked_sub(TRAILER)?;
    let (program, digest) = entry.split_at(split);
    let valid = !program.is_empty()
        && program.len().is_multiple_of(8)
        && kasane_oci::Digest::sha256_of(program).hex().as_bytes() == digest;
    valid.then_some(program)
}

/// Writes a cache entry (the program, then its sha256 in hex) by temp file and rename.
fn store(path: &Path, program: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let digest = kasane_oci::Digest::sha256_of(program);
    let tmp: PathBuf = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(program)?;
        f.write_all(digest.hex().as_bytes())
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}

/// Compiles `seccomp` to BPF as youki's `initialize_seccomp` would load it (the same
/// actions, architectures, rules and argument handling; no_new_privs left alone).
fn compile(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("seccomp profile: {what}: {e}");
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| fail("new filter", &e))?;
    for &a in seccomp.architectures().as_deref().unwrap_or_default() {
        ctx.add_arch(arch(a))
            .map_err(|e| fail("architecture", &e))?;
    }
    ctx.set_ctl_nnp(false)
        .map_err(|e| fail("no_new_privs", &e))?;
    for rule in seccomp.syscalls().as_deref().unwrap_or_default() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel lacks.
            let Ok(sc) = libseccomp::ScmpSyscall::from_name(name) else {
                continue;
            };
            let args = rule.args().as_deref().unwrap_or_default();
            if args.is_empty() {
                ctx.add_rule(act, sc).map_err(|e| fail(name, &e))?;
                continue;
            }
            let cmps: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| {
                    ScmpArgCompare::new(a.index() as u32, op(a.op(), a.value_two()), a.value())
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            if args.iter().all(|a| seen.insert(a.index())) {
                ctx.add_rule_conditional(act, sc, &cmps)
                    .map_err(|e| fail(name, &e))?;
            } else {
                // One comparison per argument and rule (seccomp_rule_add(3)): as runc and
                // youki, each comparison becomes a rule of its own.
                for c in &cmps {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map_err(|e| fail(name, &e))?;
                }
            }
        }
    }
    // libseccomp 2.5 exports to a descriptor only: a memory file, read back.
    let mem = rustix::fs::memfd_create("kasane-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| fail("exporting the program", &e))?;
    ctx.export_bpf(&mem)
        .map_err(|e| fail("exporting the program", &e))?;
    let mut file = std::fs::File::from(mem);
    let mut program = Vec::new();
    std::io::Seek::rewind(&mut file)
        .and_then(|()| std::io::Read::read_to_end(&mut file, &mut program))
        .map_err(|e| fail("exporting the program", &e))?;
    Ok(program)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno).map_err(|_| format!("seccomp trace value {errno} too large"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn op(o: LinuxSeccompOperator, datum_b: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(datum_b.unwrap_or(0)),
    }
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        crate::sys::load_seccomp_program(&self.program)
            .map_err(|e| ExecutorError::Other(format!("loading the seccomp filter: {e}")))?;
        let syscall = libcontainer::syscall::syscall::create_syscall();
        libcontainer::capabilities::drop_privileges(&self.capabilities, syscall.as_ref())
            .map_err(|e| ExecutorError::Other(format!("dropping capabilities: {e}")))?;
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }

    fn setup_envs(
        &self,
        envs: std::collections::HashMap<String, String>,
    ) -> Result<(), ExecutorSetEnvsError> {
        libcontainer::workload::default::get_executor().setup_envs(envs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_profile() -> LinuxSeccomp {
        let caps = crate::spec::DEFAULT_CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect::<Vec<_>>();
        crate::seccomp::default_profile(&caps)
    }

    #[test]
    fn docker_profile_compiles_and_caches() {
        let profile = default_profile();
        assert!(reproducible(&profile));
        let dir = tempfile::tempdir().unwrap();
        let first = cached_program(&profile, dir.path()).unwrap();
        assert!(!first.is_empty() && first.len().is_multiple_of(8));
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(cached_program(&profile, dir.path()).unwrap(), first);
        assert_eq!(compile(&profile).unwrap(), first);
    }

    #[test]
    fn torn_cache_entries_are_recompiled() {
        let profile = default_profile();
        let dir = tempfile::tempdir().unwrap();
        let program = cached_program(&profile, dir.path()).unwrap();
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let bytes = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &bytes[..bytes.len() - 1]).unwrap();
        assert!(checked(&std::fs::read(&entry).unwrap()).is_none());
        assert_eq!(cached_program(&profile, dir.path()).unwrap(), program);
        assert_eq!(std::fs::read(&entry).unwrap(), bytes);
    }

    fn spec_with_profile() -> Spec {
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_seccomp(Some(default_profile()));
        spec.set_linux(Some(linux));
        // oci-spec's default process sets no_new_privs, as runc's template; docker does not.
        let mut process = spec.process().clone().unwrap();
        process.set_no_new_privileges(None);
        spec.set_process(Some(process));
        spec
    }

    fn capabilities_of(spec: &Spec) -> LinuxCapabilities {
        spec.process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap()
    }

    #[test]
    fn youki_gets_the_spec_without_the_profile_and_with_the_loader_capabilities() {
        let spec = spec_with_profile();
        let dir = tempfile::tempdir().unwrap();
        let p = prepare(&spec, Path::new("/bundle"), dir.path())
            .unwrap()
            .expect("fast path");
        assert!(p.spec.linux().as_ref().unwrap().seccomp().is_none());
        let widened = capabilities_of(&p.spec);
        let original = capabilities_of(&spec);
        for set in [widened.bounding(), widened.permitted(), widened.effective()] {
            let set = set.as_ref().unwrap();
            assert!(LOADER_CAPABILITIES.iter().all(|c| set.contains(c)));
        }
        assert_eq!(widened.inheritable(), original.inheritable());
        assert_eq!(widened.ambient(), original.ambient());
        assert_eq!(p.executor.capabilities, original);
        assert_eq!(
            p.spec.root().as_ref().unwrap().path(),
            Path::new("/bundle/rootfs")
        );
    }

    #[test]
    fn incomplete_capabilities_and_no_new_privs_take_youkis_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = spec_with_profile();
        let mut process = spec.process().clone().unwrap();
        let mut caps = process.capabilities().clone().unwrap();
        caps.set_effective(None);
        process.set_capabilities(Some(caps));
        spec.set_process(Some(process));
        assert!(
            prepare(&spec, Path::new("/b"), dir.path())
                .unwrap()
                .is_none()
        );
        let mut spec = spec_with_profile();
        let mut process = spec.process().clone().unwrap();
        process.set_no_new_privileges(Some(true));
        spec.set_process(Some(process));
        assert!(
            prepare(&spec, Path::new("/b"), dir.path())
                .unwrap()
                .is_none()
        );
        assert!(
            prepare(&Spec::default(), Path::new("/b"), dir.path())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn notify_and_flags_take_youkis_path() {
        let mut p = default_profile();
        p.set_flags(Some(vec![
            oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        ]));
        assert!(!reproducible(&p));
        let mut p = default_profile();
        p.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(!reproducible(&p));
        let mut p = default_profile();
        let rules: Vec<_> = p
            .syscalls()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !r.names().iter().any(|n| n == "capset"))
            .collect();
        p.set_syscalls(Some(rules));
        assert!(!reproducible(&p));
    }
}
