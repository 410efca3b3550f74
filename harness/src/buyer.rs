//! [`Buyer`]: the one way the harness, the tools and the tests buy from a store that may be
//! failing, so that every caller retries the same way and no caller can buy twice.
//!
//! A purchase is sent with an idempotency key and, when the answer does not settle it (a
//! 503, or no answer at all: it may or may not have happened), sent again **with the same
//! key** after a pause, under a [`Retry`] policy. Any other answer settles it: an order
//! number, or a refusal (409 sold out, another 4xx), or a failure of the store that a retry
//! would not change (a malformed reply, another 5xx) and that leaves the outcome unknown.
//! With a [`History`], every purchase is one `invoke` line and one `ok`, `fail` or `unknown`
//! line, as the checker reads them.

use crate::history::History;
use std::time::Duration;
use toystore_frontend::client::{FrontendClient, FrontendError};

/// When to send a purchase again and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included (at least one is made).
    pub attempts: u32,
    /// The pause after the first failed attempt; the `k`-th pause is `k` times this, up to
    /// `max_pause`.
    pub pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
    /// Give up once this much time has passed since the first attempt, if set.
    pub within: Option<Duration>,
}

impl Retry {
    /// Retry every `pause` until `within` has passed (the tests' policy: a deadline).
    pub fn within(within: Duration, pause: Duration) -> Self {
        Self {
            attempts: u32::MAX,
            pause,
            max_pause: pause,
            within: Some(within),
        }
    }

    /// At most `attempts` attempts, pausing `pause`, 2·`pause`, 3·`pause`… between them (the
    /// load client's policy: a purchase gives way to the next after a while).
    pub fn attempts(attempts: u32, pause: Duration) -> Self {
        Self {
            attempts,
            pause,
            max_pause: Duration::MAX,
            within: None,
        }
    }

    /// Until it is settled, every `pause` (a buyer that must know every purchase's fate).
    pub fn forever(pause: Duration) -> Self {
        Self {
            attempts: u32::MAX,
            pause,
            max_pause: pause,
            within: None,
        }
    }

    /// The pause after the `failed`-th failed attempt (from 1).
    pub fn pause_after(&self, failed: u32) -> Duration {
        self.pause.saturating_mul(failed).min(self.max_pause)
    }
}

/// What came of one purchase.
#[derive(Debug)]
pub enum Bought {
    /// Acknowledged as this order.
    Placed(u64),
    /// Refused for good (sold out, a bad request): nothing was bought.
    Refused(FrontendError),
    /// Not settled: the last attempt's error (no answer, a 503 when the policy gave up, a
    /// failure of the store); the purchase may or may not have happened.
    Unknown(FrontendError),
}

/// One purchase's outcome and the attempts that failed before it.
#[derive(Debug)]
pub struct Purchase {
    /// How it ended.
    pub bought: Bought,
    /// Attempts that failed and were retried, each with why.
    pub retried: Vec<FrontendError>,
}

/// Whether an answer leaves a purchase open (so it is sent again with its key).
pub fn retryable(e: &FrontendError) -> bool {
    matches!(
        e,
        FrontendError::Unavailable { status: 503, .. } | FrontendError::Transport { .. }
    )
}

/// A front-end client that buys with retries, recording in a history if given one.
#[derive(Debug, Clone)]
pub struct Buyer {
    client: FrontendClient,
    retry: Retry,
    history: Option<History>,
}

impl Buyer {
    /// Buys through `client` under `retry`.
    pub fn new(client: FrontendClient, retry: Retry) -> Self {
        Self {
            client,
            retry,
            history: None,
        }
    }

    /// Records every purchase in `history`.
    pub fn recording(mut self, history: History) -> Self {
        self.history = Some(history);
        self
    }

    /// Buys `quantity` of `name` under idempotency key `key`, retrying with that key.
    pub async fn buy(&self, key: &str, name: &str, quantity: u32) -> Purchase {
        if let Some(h) = &self.history {
            h.invoke(key, name, quantity);
        }
        let purchase = self.attempt(key, name, quantity).await;
        if let Some(h) = &self.history {
            match &purchase.bought {
                Bought::Placed(n) => h.ok(key, *n),
                Bought::Refused(_) => h.fail(key),
                Bought::Unknown(_) => h.unknown(key),
            }
        }
        purchase
    }

    async fn attempt(&self, key: &str, name: &str, quantity: u32) -> Purchase {
        let started = tokio::time::Instant::now();
        let mut retried = Vec::new();
        loop {
            let error = match self.client.buy(name, quantity, Some(key)).await {
                Ok(placed) => {
                    let bought = Bought::Placed(placed.order_number.get());
                    return Purchase { bought, retried };
                }
                Err(e) if retryable(&e) => e,
                // A 4xx refused it as it is; anything else may have happened.
                Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => {
                    let bought = Bought::Refused(e);
                    return Purchase { bought, retried };
                }
                Err(e) => {
                    let bought = Bought::Unknown(e);
                    return Purchase { bought, retried };
                }
            };
            let attempts = u32::try_from(retried.len()).unwrap_or(u32::MAX) + 1;
            let out_of_time = self.retry.within.is_some_and(|w| started.elapsed() >= w);
            if attempts >= self.retry.attempts || out_of_time {
                let bought = Bought::Unknown(error);
                return Purchase { bought, retried };
            }
            retried.push(error);
            tokio::time::sleep(self.retry.pause_after(attempts)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_their_cap() {
        let r = Retry::attempts(10, Duration::from_millis(100));
        assert_eq!(r.pause_after(1), Duration::from_millis(100));
        assert_eq!(r.pause_after(3), Duration::from_millis(300));
        let r = Retry::within(Duration::from_secs(5), Duration::from_millis(50));
        assert_eq!(r.pause_after(7), Duration::from_millis(50));
    }

    #[test]
    fn only_an_unsettled_answer_is_retried() {
        let unavailable = FrontendError::Unavailable {
            status: 503,
            message: "order service unavailable".into(),
        };
        let transport = FrontendError::Transport {
            message: "reset".into(),
            maybe_applied: true,
        };
        assert!(retryable(&unavailable) && retryable(&transport));
        assert!(!retryable(&FrontendError::InsufficientStock("Tux".into())));
        let internal = FrontendError::Unavailable {
            status: 500,
            message: "boom".into(),
        };
        assert!(!retryable(&internal));
    }
}
