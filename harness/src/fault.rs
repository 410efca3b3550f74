//! Faults: what a nemesis can do to a running store ([`Nemesis`]), one fault decided before
//! it is injected ([`Plan`], from the run's seed and the current leader), and doing and
//! undoing it ([`inject`], [`undo`]). `tools chaos` takes the nemeses in turn; `tools outage`
//! runs a fixed schedule of them; both record each fault in a [`crate::History`].
//!
//! Guarantees: [`plan`] is a pure function of its arguments and the generator, so a run's
//! faults follow from its seed; [`undo`] leaves the store whole (the service restarted and
//! healthy, resumed, or the network healed) or fails saying what did not come back.

use crate::cluster::Cluster;
use crate::service::Service;
use anyhow::Context;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use std::time::Duration;

/// One kind of fault `tools chaos` injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Nemesis {
    /// SIGKILL a replica, restart it `--down-for` later.
    Kill,
    /// SIGSTOP a replica for `--down-for`, then SIGCONT.
    Pause,
    /// Partition the network for `--down-for`, then heal (needs `--netns`).
    Partition,
    /// SIGKILL the catalog, restart it `--down-for` later.
    Catalog,
    /// SIGKILL a front-end, restart it `--down-for` later.
    Frontend,
}

/// The partitions the `partition` nemesis takes in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// The order leader cut off from everyone.
    IsolateLeader,
    /// The order leader cut off from its followers; the front-ends still reach it.
    CutLeader,
    /// A follower cut off from everyone.
    IsolateFollower,
    /// The replicas split 1|2, the old leader and front-end 1 on the minority side, the
    /// catalog reachable from both.
    Split,
    /// The catalog cut off from everyone.
    IsolateCatalog,
}

/// The partitions, in the order the `partition` nemesis takes them.
pub const PARTITIONS: [Partition; 5] = [
    Partition::IsolateLeader,
    Partition::CutLeader,
    Partition::IsolateFollower,
    Partition::Split,
    Partition::IsolateCatalog,
];

impl Partition {
    /// Its kind, as the history and the reports name it.
    pub fn kind(self) -> &'static str {
        match self {
            Partition::IsolateLeader => "partition-isolate-leader",
            Partition::CutLeader => "partition-cut-leader",
            Partition::IsolateFollower => "partition-isolate-follower",
            Partition::Split => "partition-split",
            Partition::IsolateCatalog => "partition-isolate-catalog",
        }
    }

    /// Whether it cuts the order leader off from someone.
    pub fn hits_leader(self) -> bool {
        matches!(
            self,
            Partition::IsolateLeader | Partition::CutLeader | Partition::Split
        )
    }
}

/// What one fault is, decided before it is injected.
pub struct Plan {
    /// The nemesis that injects it.
    pub nemesis: Nemesis,
    /// Its kind, e.g. `kill-leader`, `partition-split`, `catalog-kill`.
    pub kind: String,
    /// The service it hits (for a partition: the one cut off, or the minority's replica).
    pub target: Service,
    /// Whether it hits the order leader.
    pub leader: bool,
    /// Which partition, for the `partition` nemesis.
    pub partition: Option<Partition>,
}

impl Plan {
    /// The order replica it hits, if it hits one.
    pub fn target_replica(&self) -> Option<u32> {
        match self.target {
            Service::Order(id) => Some(id),
            _ => None,
        }
    }

    /// SIGKILL (`Kill`) or SIGSTOP (`Pause`) order replica `victim`, the leader or not.
    pub fn on_replica(nemesis: Nemesis, victim: u32, on_leader: bool) -> Self {
        let verb = if nemesis == Nemesis::Kill {
            "kill"
        } else {
            "pause"
        };
        let role = if on_leader { "leader" } else { "follower" };
        Plan {
            nemesis,
            kind: format!("{verb}-{role}"),
            target: Service::Order(victim),
            leader: on_leader,
            partition: None,
        }
    }
}

/// The store a fault is planned for: its replicas, and whether it runs a second front-end.
pub struct Layout {
    /// The order replicas' ids.
    pub replicas: Vec<u32>,
    /// Whether a second front-end runs.
    pub second_frontend: bool,
}

impl Layout {
    /// The layout of a running store.
    pub fn of(cluster: &Cluster) -> Self {
        Self {
            replicas: cluster.replica_ids(),
            second_frontend: cluster.has_second_frontend(),
        }
    }

    /// A follower of `leader`, chosen by `rng` (the leader itself if it has none).
    pub fn follower(&self, leader: u32, rng: &mut StdRng) -> u32 {
        let followers: Vec<u32> = self
            .replicas
            .iter()
            .copied()
            .filter(|id| *id != leader)
            .collect();
        followers
            .get(rng.random_range(0..followers.len().max(1)))
            .copied()
            .unwrap_or(leader)
    }
}

/// Decides the `count`th fault of `nemesis` (from 0), given the leader: a pure function of
/// its arguments and `rng`, so a run's faults follow from its seed (which replica is the
/// leader at each fault is the one thing timing decides).
pub fn plan(
    nemesis: Nemesis,
    count: usize,
    leader: u32,
    layout: &Layout,
    rng: &mut StdRng,
) -> Plan {
    match nemesis {
        Nemesis::Kill | Nemesis::Pause => {
            // The leader two times in three.
            let on_leader = count % 3 != 2;
            let victim = if on_leader {
                leader
            } else {
                layout.follower(leader, rng)
            };
            Plan::on_replica(nemesis, victim, on_leader)
        }
        Nemesis::Partition => {
            let p = PARTITIONS[count % PARTITIONS.len()];
            let target = match p {
                Partition::IsolateFollower => Service::Order(layout.follower(leader, rng)),
                Partition::IsolateCatalog => Service::Catalog,
                _ => Service::Order(leader),
            };
            Plan {
                nemesis,
                kind: p.kind().to_string(),
                target,
                leader: p.hits_leader(),
                partition: Some(p),
            }
        }
        Nemesis::Catalog => Plan {
            nemesis,
            kind: "catalog-kill".into(),
            target: Service::Catalog,
            leader: false,
            partition: None,
        },
        Nemesis::Frontend => {
            let second = count % 2 == 1 && layout.second_frontend;
            Plan {
                nemesis,
                kind: "frontend-kill".into(),
                target: if second {
                    Service::SecondFrontend
                } else {
                    Service::Frontend
                },
                leader: false,
                partition: None,
            }
        }
    }
}

/// Injects `plan`'s fault (`leader`: the order leader it was planned against).
pub async fn inject(cluster: &mut Cluster, plan: &Plan, leader: u32) -> anyhow::Result<()> {
    match plan.nemesis {
        Nemesis::Kill | Nemesis::Catalog | Nemesis::Frontend => cluster.kill(plan.target).await,
        Nemesis::Pause => cluster.pause(plan.target),
        Nemesis::Partition => {
            let hosts = cluster
                .hosts()
                .context("the partition nemesis needs separate hosts")?;
            let all = hosts.services();
            let others =
                |s: Service| -> Vec<Service> { all.iter().copied().filter(|o| *o != s).collect() };
            let followers: Vec<Service> = cluster
                .replica_ids()
                .into_iter()
                .filter(|id| *id != leader)
                .map(Service::Order)
                .collect();
            match plan.partition {
                Some(Partition::CutLeader) => hosts.cut(Service::Order(leader), &followers),
                Some(Partition::Split) => {
                    let mut majority = followers.clone();
                    majority.push(Service::SecondFrontend);
                    hosts.cut(Service::Order(leader), &majority)?;
                    hosts.cut(Service::Frontend, &followers)
                }
                _ => hosts.cut(plan.target, &others(plan.target)),
            }
        }
    }
}

/// Undoes `plan`'s fault and waits until the service it hit answers again (a partition:
/// until the network is healed).
pub async fn undo(cluster: &mut Cluster, plan: &Plan) -> anyhow::Result<()> {
    let patience = Duration::from_secs(60);
    match plan.nemesis {
        Nemesis::Kill | Nemesis::Catalog | Nemesis::Frontend => cluster
            .restart(plan.target, patience)
            .await
            .with_context(|| format!("restarting {}", plan.target)),
        Nemesis::Pause => {
            cluster.resume(plan.target)?;
            cluster
                .wait_healthy(plan.target, patience)
                .await
                .with_context(|| format!("resuming {}", plan.target))
        }
        Nemesis::Partition => cluster
            .hosts()
            .context("the partition nemesis needs separate hosts")?
            .heal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    /// The faults of a run: (kind, target) for each, the leader changing as a run's might.
    fn faults(seed: u64, leaders: &[u32]) -> Vec<(String, Service)> {
        let layout = Layout {
            replicas: vec![3, 2, 1],
            second_frontend: true,
        };
        let nemeses = [
            Nemesis::Kill,
            Nemesis::Pause,
            Nemesis::Partition,
            Nemesis::Catalog,
            Nemesis::Frontend,
        ];
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counts: BTreeMap<Nemesis, usize> = BTreeMap::new();
        leaders
            .iter()
            .enumerate()
            .map(|(i, leader)| {
                let nemesis = nemeses[i % nemeses.len()];
                let count = counts.entry(nemesis).or_default();
                let p = plan(nemesis, *count, *leader, &layout, &mut rng);
                *count += 1;
                (p.kind, p.target)
            })
            .collect()
    }

    #[test]
    fn a_seed_decides_the_faults() {
        let leaders: Vec<u32> = (0..60).map(|i| [3, 2, 1][i % 3]).collect();
        assert_eq!(faults(7, &leaders), faults(7, &leaders));
        let other = (8..40).find(|s| faults(*s, &leaders) != faults(7, &leaders));
        assert!(
            other.is_some(),
            "the followers hit do not depend on the seed"
        );
    }

    #[test]
    fn the_leader_is_hit_two_times_in_three_and_partitions_take_turns() {
        let leaders = vec![3; 60];
        let planned = faults(1, &leaders);
        let kinds: Vec<&str> = planned.iter().map(|(k, _)| k.as_str()).collect();
        let kills: Vec<&str> = kinds
            .iter()
            .copied()
            .filter(|k| k.starts_with("kill-"))
            .collect();
        assert_eq!(kills[..3], ["kill-leader", "kill-leader", "kill-follower"]);
        for (kind, target) in &planned {
            if kind.ends_with("-leader") {
                assert_eq!(*target, Service::Order(3), "{kind}");
            }
            if kind.ends_with("-follower") {
                assert_ne!(*target, Service::Order(3), "{kind}");
            }
        }
        let partitions: Vec<&str> = kinds
            .iter()
            .copied()
            .filter(|k| PARTITIONS.iter().any(|p| p.kind() == *k))
            .collect();
        assert_eq!(partitions.len(), 12, "one fault in five");
        let in_turn: Vec<&str> = PARTITIONS.iter().map(|p| p.kind()).collect();
        assert_eq!(partitions[..PARTITIONS.len()], in_turn[..]);
        let frontends: Vec<Service> = planned
            .iter()
            .filter(|(k, _)| k == "frontend-kill")
            .map(|(_, t)| *t)
            .take(2)
            .collect();
        assert_eq!(frontends, [Service::Frontend, Service::SecondFrontend]);
    }
}
