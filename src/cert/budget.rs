//! What parsing one certificate's secret may cost.

/// What parsing one certificate's secret may cost: PKCS#12 key-derivation
/// iterations summed over the MAC and every bag, and the time left. Key
/// Vault's own PFX takes about 12,000 iterations and OpenSSL 3's about
/// 6,000; a hostile one could ask for a million in each of hundreds of bags.
pub struct Budget {
    iterations: u64,
    until: std::time::Instant,
}

impl Budget {
    /// Iterations one secret may cost in all: a few seconds of CPU.
    pub const ITERATIONS: u64 = 4_000_000;

    pub fn new(until: std::time::Instant) -> Budget {
        Budget { iterations: Budget::ITERATIONS, until }
    }

    /// A smaller budget, for tests of what happens when it runs out.
    #[cfg(test)]
    pub(super) fn with_iterations(iterations: u64, until: std::time::Instant) -> Budget {
        Budget { iterations, until }
    }

    /// Iterations left.
    #[cfg(test)]
    pub(super) fn left(&self) -> u64 {
        self.iterations
    }

    /// Takes `iterations` from the budget, before they are spent.
    pub(super) fn spend(&mut self, iterations: u32) -> Result<(), Exceeded> {
        self.iterations = self.iterations.checked_sub(u64::from(iterations)).ok_or(Exceeded::Iterations)?;
        self.in_time()
    }

    pub(super) fn in_time(&self) -> Result<(), Exceeded> {
        match std::time::Instant::now() < self.until {
            true => Ok(()),
            false => Err(Exceeded::Time),
        }
    }
}

/// What ran out.
#[derive(Debug)]
pub enum Exceeded {
    Iterations,
    Time,
}

/// More certificates than this in one secret is not a chain.
pub const MAX_CERTS: usize = 100;
