//! Signal forwarding (docker's `--sig-proxy`): the signals a terminal sends reach the
//! container's process instead of ending the kasane process that waits on it. Used by a
//! foreground monitor and by `kasane attach`.

/// Forwards the signals a terminal sends (INT, TERM, HUP, QUIT, USR1, USR2) to the
/// container's init, as docker's `--sig-proxy`.
///
/// The signals are blocked from [`SignalForwarder::install`] on (they wait, pending), but the
/// thread that forwards them only starts with the first target: the embedded runtime's
/// `create` forks this process, which is only sound while it has a single thread.
pub struct SignalForwarder {
    set: nix::sys::signal::SigSet,
    target: std::sync::Arc<std::sync::atomic::AtomicI32>,
    started: std::cell::Cell<bool>,
}

impl SignalForwarder {
    /// Blocks the forwarded signals in this thread (and the threads it starts later).
    pub fn install() -> SignalForwarder {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ] {
            set.add(s);
        }
        // Blocked in this thread (and so in threads spawned later); children get an empty
        // mask from std's spawn and from the runtime's fork.
        let started = std::cell::Cell::new(set.thread_block().is_err());
        SignalForwarder {
            set,
            target: std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0)),
            started,
        }
    }

    /// Forwards from now on to `pid` (starting the forwarding thread the first time).
    pub fn set_target(&self, pid: i32) {
        self.target.store(pid, std::sync::atomic::Ordering::SeqCst);
        if self.started.replace(true) {
            return;
        }
        let (set, target) = (self.set, self.target.clone());
        std::thread::spawn(move || {
            while let Ok(sig) = set.wait() {
                let pid = target.load(std::sync::atomic::Ordering::SeqCst);
                if pid > 0 {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
                }
            }
        });
    }
}
