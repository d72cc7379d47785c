//! Deadlines and backoff: every wait in kvinit is bounded by `--timeout`.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// The moment by which all secrets must be in hand.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    pub fn after(total: Duration) -> Deadline {
        Deadline { end: Instant::now() + total }
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }
}

/// Exponential backoff with jitter: `base`, `2*base`, ... capped at `cap`,
/// each scaled by a random factor in [0.5, 1.0] so that a fleet started at
/// once does not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    step: u32,
    rng: Rng,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap, step: 0, rng: Rng::new() }
    }

    pub fn next_delay(&mut self) -> Duration {
        let full = self.base.saturating_mul(1u32 << self.step.min(16)).min(self.cap);
        self.step += 1;
        full.mul_f64(0.5 + 0.5 * self.rng.unit())
    }
}

/// xorshift64*: statistically fine for jitter, and needs no crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        Rng(seed())
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `d` scaled by a random factor in [1 - spread, 1 + spread].
    pub fn jitter(&mut self, d: Duration, spread: f64) -> Duration {
        d.mul_f64(1.0 - spread + 2.0 * spread * self.unit())
    }
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    let stack = &local as *const u8 as u64;
    (nanos ^ (u64::from(std::process::id()) << 32) ^ stack.rotate_left(17)) | 1
}

/// What one attempt came to.
pub enum Attempt<T, E> {
    Done(T),
    /// A transient failure; `after` is the server's `Retry-After`, if any.
    Retry {
        error: E,
        after: Option<Duration>,
    },
    /// A failure that a retry cannot fix.
    Fail(E),
}

/// The last error, and how many attempts were made.
#[derive(Debug)]
pub struct Failure<E> {
    pub error: E,
    pub attempts: u32,
}

/// Runs `attempt` until it is done, fails for good, runs out of retries, or
/// the next wait would pass the deadline. `attempt` gets the time it may use.
pub fn retry<T, E: Display>(
    what: &dyn Display,
    deadline: Deadline,
    mut backoff: Backoff,
    max_retries: u32,
    mut attempt: impl FnMut(Duration) -> Attempt<T, E>,
) -> Result<T, Failure<E>> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (error, after) = match attempt(deadline.remaining()) {
            Attempt::Done(value) => return Ok(value),
            Attempt::Fail(error) => return Err(Failure { error, attempts }),
            Attempt::Retry { error, after } => (error, after),
        };
        let delay = after.unwrap_or_else(|| backoff.next_delay());
        if attempts > max_retries || delay >= deadline.remaining() {
            return Err(Failure { error, attempts });
        }
        // Tenths by hand: formatting an f64 would link float printing (~9 KiB).
        let tenths = (delay.as_millis() + 50) / 100;
        let retry_in_ms = delay.as_millis() as u64;
        log::warn!(attempt = attempts, retry_in_ms; "{what}: {error}; retrying in {}.{}s", tenths / 10, tenths % 10);
        std::thread::sleep(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let expected_full = [1, 2, 4, 8, 16, 30, 30, 30];
        for full in expected_full {
            let d = b.next_delay().as_secs_f64();
            let full = full as f64;
            assert!(d >= full * 0.5 - 1e-9 && d <= full + 1e-9, "{d} not in [{}, {full}]", full / 2.0);
        }
    }

    #[test]
    fn jitter_differs_between_backoffs() {
        let mut a = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        b.rng.0 ^= 0x9E37_79B9_7F4A_7C15;
        let a: Vec<_> = (0..4).map(|_| a.next_delay()).collect();
        let b: Vec<_> = (0..4).map(|_| b.next_delay()).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn retry_stops_on_fail_and_on_retry_budget() {
        let deadline = Deadline::after(Duration::from_secs(60));
        let quick = || Backoff::new(Duration::from_millis(1), Duration::from_millis(1));
        let mut calls = 0;
        let r: Result<(), _> = retry(&"x", deadline, quick(), 10, |_| {
            calls += 1;
            Attempt::Fail("final")
        });
        assert_eq!((r.unwrap_err().attempts, calls), (1, 1));

        let r: Result<(), _> =
            retry(&"x", deadline, quick(), 2, |_| Attempt::Retry { error: "busy", after: None });
        assert_eq!(r.unwrap_err().attempts, 3);

        let mut calls = 0;
        let r = retry(&"x", deadline, quick(), 5, |_| {
            calls += 1;
            if calls < 3 {
                Attempt::Retry { error: "busy", after: None }
            } else {
                Attempt::Done(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
    }

    #[test]
    fn retry_never_sleeps_past_the_deadline() {
        let deadline = Deadline::after(Duration::from_millis(200));
        let started = Instant::now();
        let r: Result<(), _> =
            retry(&"x", deadline, Backoff::new(Duration::from_secs(1), Duration::from_secs(1)), 99, |_| {
                Attempt::Retry { error: "busy", after: Some(Duration::from_secs(30)) }
            });
        assert_eq!(r.unwrap_err().attempts, 1);
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
