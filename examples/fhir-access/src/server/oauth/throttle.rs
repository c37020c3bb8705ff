//! Login throttling: after [`MAX_FAILURES`] wrong passwords for one user name within
//! [`WINDOW`] seconds, further attempts for that name are refused without checking the
//! password until the window has passed. Argon2 already makes each guess slow; this caps
//! how many one name can take. Unknown names are counted like known ones, so the refusal
//! reveals nothing about which names exist.

use std::collections::HashMap;
use std::sync::Mutex;

/// Wrong passwords allowed per name and window.
pub(crate) const MAX_FAILURES: u32 = 5;
/// The window, in seconds.
pub(crate) const WINDOW: i64 = 900;
/// Names tracked at most (the oldest entries go first).
const MAX_NAMES: usize = 10_000;

/// Failed logins per user name.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, i64)>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `name` may try a password at `now`.
    pub(crate) fn allows(&self, name: &str, now: i64) -> bool {
        self.lock().get(name).is_none_or(|(count, since)| {
            *count < MAX_FAILURES || now.saturating_sub(*since) >= WINDOW
        })
    }

    /// Records a wrong password for `name` at `now`.
    pub(crate) fn failed(&self, name: &str, now: i64) {
        let mut failures = self.lock();
        if failures.len() >= MAX_NAMES && !failures.contains_key(name) {
            failures.retain(|_, (_, since)| now.saturating_sub(*since) < WINDOW);
            if failures.len() >= MAX_NAMES {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(name, _)| name.clone());
                if let Some(oldest) = oldest {
                    failures.remove(&oldest);
                }
            }
        }
        let entry = failures.entry(name.to_owned()).or_insert((0, now));
        if now.saturating_sub(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
    }

    /// Forgets the failures of `name` (a successful login).
    pub(crate) fn succeeded(&self, name: &str) {
        self.lock().remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_a_name_for_the_window() {
        let throttle = Throttle::default();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.allows("lucien", 100));
            throttle.failed("lucien", 100);
        }
        assert!(!throttle.allows("lucien", 101));
        assert!(!throttle.allows("lucien", 100 + WINDOW - 1));
        assert!(throttle.allows("lucien", 100 + WINDOW));
        assert!(throttle.allows("catharine", 101));
        throttle.failed("lucien", 100 + WINDOW);
        assert!(throttle.allows("lucien", 100 + WINDOW));
        throttle.succeeded("lucien");
        assert!(throttle.allows("lucien", 100 + WINDOW));
    }

    #[test]
    fn the_table_stays_bounded() {
        let throttle = Throttle::default();
        for n in 0..MAX_NAMES + 50 {
            throttle.failed(&n.to_string(), 1);
        }
        assert_eq!(throttle.lock().len(), MAX_NAMES);
    }
}
