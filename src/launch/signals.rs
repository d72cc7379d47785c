//! Signals, tini's way: kvinit blocks the asynchronous signals at start and
//! takes them with `sigtimedwait`, so no handler ever runs inside kvinit, and
//! the command gets back the mask kvinit was started with.

pub use imp::*;

#[cfg(unix)]
mod imp {
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use nix::libc;
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};

    /// Signals that must keep their default action in kvinit: faults are
    /// synchronous, and job-control reads/writes are tini's exceptions too.
    const NOT_BLOCKED: [Signal; 9] = [
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGABRT,
        Signal::SIGTRAP,
        Signal::SIGSYS,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
    ];

    /// Signals that end kvinit while it is still fetching secrets.
    pub const STOP_DURING_START: [Signal; 4] =
        [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT];

    /// The mask kvinit was started with, to hand back to the command.
    #[derive(Clone, Copy)]
    pub struct Original(SigSet);

    /// The signals kvinit takes itself.
    pub fn handled() -> SigSet {
        let mut set = SigSet::all();
        for s in NOT_BLOCKED {
            set.remove(s);
        }
        set
    }

    /// Blocks `handled()` in this thread, and so in every thread it starts.
    /// Call first, before any thread exists.
    pub fn block() -> Original {
        let original = handled().thread_swap_mask(SigmaskHow::SIG_BLOCK).unwrap_or_else(|_| SigSet::empty());
        Original(original)
    }

    impl Original {
        /// Restores the original mask in this thread. Async-signal-safe: one
        /// `pthread_sigmask`, so it may run between fork and exec.
        pub fn restore(&self) -> std::io::Result<()> {
            self.0.thread_set_mask().map_err(std::io::Error::from)
        }
    }

    /// Takes every signal that arrived while secrets were read and is still
    /// pending (say `USR1`), logging each: unblocked at exec, it would reach
    /// a program that cannot have installed a handler yet, and kill it.
    pub fn drop_pending() {
        let set = handled();
        while let Some(sig) = wait(&set, Duration::ZERO) {
            let name = Signal::try_from(sig).map(Signal::as_str).unwrap_or("a signal");
            // A stop that slipped in after the start-up guard still stops.
            if STOP_DURING_START.iter().any(|s| *s as i32 == sig) {
                log::warn!("received {name} while starting; stopping");
                std::process::exit(128 + sig);
            }
            log::warn!(
                "dropping {name}, which arrived while secrets were read: the command cannot handle it yet"
            );
        }
    }

    /// Waits up to `timeout` for one of `set`. `None` on timeout.
    pub fn wait(set: &SigSet, timeout: Duration) -> Option<i32> {
        let ts = nix::sys::time::TimeSpec::from_duration(timeout);
        // SAFETY: `set` is a valid, initialised sigset_t; `info` may be null
        // per POSIX; `ts` lives across the call. No memory is written but
        // the kernel's own.
        let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), ts.as_ref()) };
        (sig > 0).then_some(sig)
    }

    /// Wakes the guard thread when it is time to stop; sent to that thread
    /// alone with `pthread_kill`.
    const WAKE: Signal = Signal::SIGURG;

    /// While kvinit fetches, a TERM/INT/HUP/QUIT ends it at once with
    /// 128+N: as PID 1 nothing else would, since the kernel ignores
    /// default-action signals for PID 1 and they are blocked anyway.
    pub struct StartupGuard {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl StartupGuard {
        pub fn start() -> StartupGuard {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::spawn(move || {
                let mut set = SigSet::empty();
                for s in STOP_DURING_START {
                    set.add(s);
                }
                set.add(WAKE);
                while !flag.load(Ordering::SeqCst) {
                    match wait(&set, Duration::from_secs(1)) {
                        Some(sig) if sig != WAKE as i32 => {
                            let name = Signal::try_from(sig).map(Signal::as_str).unwrap_or("a signal");
                            log::warn!("received {name} while reading secrets; stopping");
                            std::process::exit(128 + sig);
                        }
                        _ => {}
                    }
                }
            });
            StartupGuard { stop, thread: Some(thread) }
        }

        /// Hands signals back to whoever waits next; pending ones stay pending.
        pub fn stop(mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                // std's raw handle is a u64; libc's pthread_t is an integer on
                // glibc and a pointer on musl, hence the cast.
                #[allow(clippy::unnecessary_cast)]
                let thread = t.as_pthread_t() as libc::pthread_t;
                // SAFETY: the thread has not been joined, so its pthread_t is
                // valid; a thread-directed signal it has blocked only wakes
                // its sigtimedwait.
                unsafe { libc::pthread_kill(thread, WAKE as i32) };
                let _ = t.join();
            }
        }
    }

    /// `HUP`, `SIGHUP`, `1` → the signal.
    pub fn parse(name: &str) -> Option<i32> {
        let name = name.trim();
        if let Ok(n) = name.parse::<i32>() {
            return Signal::try_from(n).ok().map(|s| s as i32);
        }
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
        full.parse::<Signal>().ok().map(|s| s as i32)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn faults_and_tty_signals_stay_unblocked() {
            let set = handled();
            for s in [
                Signal::SIGTERM,
                Signal::SIGINT,
                Signal::SIGHUP,
                Signal::SIGUSR1,
                Signal::SIGWINCH,
                Signal::SIGCHLD,
            ] {
                assert!(set.contains(s), "{s}");
            }
            for s in NOT_BLOCKED {
                assert!(!set.contains(s), "{s}");
            }
        }

        #[test]
        fn signal_names() {
            assert_eq!(parse("HUP"), Some(libc::SIGHUP));
            assert_eq!(parse("sigusr1"), Some(libc::SIGUSR1));
            assert_eq!(parse("15"), Some(libc::SIGTERM));
            assert_eq!(parse("NOPE"), None);
            assert_eq!(parse("999"), None);
        }
    }
}

#[cfg(not(unix))]
mod imp {
    /// Windows has console events, not signals; see `launch`.
    #[derive(Clone, Copy)]
    pub struct Original;

    pub fn block() -> Original {
        Original
    }

    pub struct StartupGuard;

    impl StartupGuard {
        pub fn start() -> StartupGuard {
            StartupGuard
        }

        pub fn stop(self) {}
    }

    pub fn parse(_name: &str) -> Option<i32> {
        None
    }
}
