//! [`Backoff`]: the wait before reconnecting something that broke (an event stream), from
//! `[timeouts] reconnect_min` doubling on each failure up to `reconnect_max`, back to the
//! minimum once it works again. One rule for every reconnecting loop of the store.

use crate::Timeouts;
use std::time::Duration;

/// The waits of one reconnecting loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starting at `min`, doubling up to `max` (at least `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The cluster file's reconnect waits.
    pub fn reconnect(timeouts: &Timeouts) -> Self {
        Self::new(timeouts.reconnect_min, timeouts.reconnect_max)
    }

    /// The wait before the next attempt; the one after it is twice as long (up to the
    /// maximum).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// It worked: the next failure waits the minimum again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(50), ms(300));
        let waits: Vec<Duration> = (0..5).map(|_| b.next_wait()).collect();
        assert_eq!(waits, [ms(50), ms(100), ms(200), ms(300), ms(300)]);
        b.reset();
        assert_eq!(b.next_wait(), ms(50));
        let mut upside_down = Backoff::new(ms(80), ms(10));
        assert_eq!(
            [upside_down.next_wait(), upside_down.next_wait()],
            [ms(80), ms(80)]
        );
        let t = Timeouts::default();
        let mut d = Backoff::reconnect(&t);
        assert_eq!(d.next_wait(), t.reconnect_min);
    }
}
