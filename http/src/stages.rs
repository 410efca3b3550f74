//! Where a purchase's time goes: one histogram per stage of the buy path
//! (`toystore_buy_stage_seconds{stage="..."}`), each observed by the service that runs the
//! stage, so that summing the series of every service gives the whole path.
//!
//! | stage | observed by | from | to |
//! | --- | --- | --- | --- |
//! | `order_call` | front-end | forwarding a purchase to the order service | its answer (every attempt and failover included) |
//! | `place` | order leader | a purchase's arrival at the leader | its answer |
//! | `catalog_call` | order leader | calling the catalog to buy | the catalog leader's answer |
//! | `catalog_write` | catalog leader | a buy's arrival at the leader | its outcome (its Raft write committed and applied, or a refusal confirmed without one) |
//! | `catalog_apply` | every catalog replica | applying committed entries | their apply transaction is committed |
//! | `order_write` | order leader | proposing a purchase | it is committed and applied |
//! | `order_apply` | every order replica | applying committed entries | their apply transaction is committed |
//!
//! The differences of the means are the hops between them: `order_call − place` is the
//! front-end's hop and the reply's way back, `catalog_call − catalog_write` the catalog's.
//! A stage is timed only when it ends (an abandoned call is not observed). A leader's
//! refusal is observed like a success; a non-leader's ("not the leader, ask that one") is
//! not, as it is no part of the path.
//!
//! The buckets are finer than the HTTP latency's (×1.25 from 50 µs to 2.2 s, then `+Inf`),
//! so a quantile read from them is within one bucket (25%) of the true value; one above
//! 2.2 s reads as 2.2 s.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::{Duration, Instant};

/// The metric's name as registered (Prometheus appends `_bucket`, `_sum`, `_count`).
pub const STAGE_METRIC: &str = "toystore_buy_stage_seconds";

/// One stage of the buy path (the module's table says who observes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Front-end: the purchase's trip to the order service and back.
    OrderCall,
    /// Order leader: the whole purchase.
    Place,
    /// Order leader: the catalog buy's round trip.
    CatalogCall,
    /// Catalog leader: the buy's Raft write.
    CatalogWrite,
    /// Every catalog replica: an apply.
    CatalogApply,
    /// Order leader: the purchase's Raft write.
    OrderWrite,
    /// Every order replica: an apply.
    OrderApply,
}

impl Stage {
    /// Every stage, in the order of the buy path.
    pub const ALL: [Stage; 7] = [
        Stage::OrderCall,
        Stage::Place,
        Stage::CatalogCall,
        Stage::CatalogWrite,
        Stage::CatalogApply,
        Stage::OrderWrite,
        Stage::OrderApply,
    ];

    /// The `stage` label's value.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::OrderCall => "order_call",
            Stage::Place => "place",
            Stage::CatalogCall => "catalog_call",
            Stage::CatalogWrite => "catalog_write",
            Stage::CatalogApply => "catalog_apply",
            Stage::OrderWrite => "order_write",
            Stage::OrderApply => "order_apply",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

fn stage_histogram() -> Histogram {
    // 50 µs to 2.2 s, ×1.25.
    Histogram::new(exponential_buckets(0.000_05, 1.25, 49))
}

/// A service's stage histograms (cheap to clone: the clones share the series).
#[derive(Debug, Clone)]
pub struct Stages(Family<StageLabels, Histogram, fn() -> Histogram>);

impl Default for Stages {
    fn default() -> Self {
        Self(Family::new_with_constructor(stage_histogram))
    }
}

impl Stages {
    /// Registers the family in `registry` as [`STAGE_METRIC`].
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            STAGE_METRIC,
            "Time a purchase spends in each stage of the buy path, by stage",
            self.0.clone(),
        );
    }

    /// Records that `stage` took `took`.
    pub fn observe(&self, stage: Stage, took: Duration) {
        self.0
            .get_or_create(&StageLabels {
                stage: stage.name(),
            })
            .observe(took.as_secs_f64());
    }

    /// Runs `work`, recording how long it took as `stage` (whatever its outcome).
    pub async fn time<T>(&self, stage: Stage, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let out = work.await;
        self.observe(stage, started.elapsed());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn exposition(stages: &Stages) -> String {
        let mut registry = Registry::default();
        stages.register(&mut registry);
        let mut out = String::new();
        encode(&mut out, &registry).expect("encodes");
        out
    }

    #[tokio::test]
    async fn a_timed_stage_is_counted_under_its_own_label() {
        let stages = Stages::default();
        stages.time(Stage::Place, async {}).await;
        stages.observe(Stage::OrderWrite, Duration::from_millis(3));
        stages.observe(Stage::OrderWrite, Duration::from_millis(5));
        let text = exposition(&stages);
        assert!(text.contains(r#"toystore_buy_stage_seconds_count{stage="place"} 1"#));
        assert!(text.contains(r#"toystore_buy_stage_seconds_count{stage="order_write"} 2"#));
        assert!(text.contains(r#"toystore_buy_stage_seconds_sum{stage="order_write"} 0.008"#));
        assert!(!text.contains(r#"stage="catalog_write""#), "{text}");
    }

    #[test]
    fn every_stage_has_its_own_name() {
        let names: std::collections::BTreeSet<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), Stage::ALL.len());
    }
}
