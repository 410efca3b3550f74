//! Faults: what a nemesis can do to a running store ([`Nemesis`]), one fault decided before
//! it is injected ([`Plan`], from the run's seed and the current leader), and doing and
//! undoing it ([`inject`], [`undo`]). `tools chaos` takes the nemeses in turn; `tools outage`
//! runs a fixed schedule of them; both record each fault in a [`crate::History`].
//!
//! What "the catalog" is: with one catalog replica, the `catalog` nemesis kills it and the
//! catalog partition cuts it off. With several, the catalog is a Raft group of its own and
//! its replicas take their share of the faults: the `catalog` nemesis kills its leader,
//! pauses its leader and kills a follower in turn; the catalog partition cuts off its
//! leader; and one fault in three of the `kill` and `pause` nemeses hits the catalog's
//! leader instead of the order leader (the caller tells [`Layout`] who leads the catalog).
//!
//! The `wipe` nemesis kills a replica and deletes its file; undone, the replica starts on an
//! empty file under its old id and must be taken out of the voters and caught up before it
//! counts again (docs/DESIGN.md, "Initial membership, and a replica that lost its log"). It
//! takes the order leader, an order follower and (with a replicated catalog) a catalog
//! replica in turn, the catalog's leader and a follower alternately; a lone catalog is never
//! wiped, having no peer to rebuild it from.
//!
//! The `corrupt` nemesis kills a replica, flips bytes in its file and starts it again: it
//! must refuse the file (the integrity check at open) and exit; undone, the file is set
//! aside as `tools rebuild` does (`<file>.damaged-…`) and the replica, started again,
//! rejoins on an empty file like a wiped one. It takes the replicas `wipe` takes.
//!
//! The `disk-full` nemesis fills a replica's disk (each replica's file on a disk of its own,
//! [`crate::disks`]) until less than half its reserve is free, and frees it when undone: the
//! order leader, an order follower and the catalog's leader in turn. The replica refuses
//! writes and entries meanwhile and a leader steps down (docs/DESIGN.md, "Disks").
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
    /// SIGKILL or SIGSTOP a catalog replica (see the module doc), undone `--down-for` later.
    Catalog,
    /// SIGKILL a front-end, restart it `--down-for` later.
    Frontend,
    /// SIGKILL a replica and delete its file, restart it on an empty file under its old id
    /// `--down-for` later (see the module doc for which replicas).
    Wipe,
    /// Fill a replica's disk past its reserve, free it `--down-for` later (each replica's
    /// file on a disk of its own; see the module doc for which replicas).
    #[value(name = "disk-full")]
    #[serde(rename = "disk-full")]
    DiskFull,
    /// SIGKILL a replica and flip bytes in its file: started again, it must refuse the
    /// file; undone `--down-for` later, the file is set aside (as `tools rebuild` does)
    /// and the replica rebuilt from its peers (the replicas `wipe` takes).
    Corrupt,
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
    /// The catalog replica (its leader, with several) cut off from everyone.
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

/// What a fault does to the service it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL, restarted when undone.
    Kill,
    /// SIGSTOP, SIGCONT when undone.
    Pause,
    /// A network partition, healed when undone.
    Partition,
    /// SIGKILL and the file deleted, restarted on an empty file when undone.
    Wipe,
    /// Its disk filled past the replica's reserve, freed when undone.
    Fill,
    /// SIGKILL, bytes of its file flipped, started again to see it refuse the file; the
    /// file set aside and the replica restarted when undone.
    Corrupt,
}

impl Action {
    /// What the `kill`, `pause` and `wipe` nemeses do (anything else pauses).
    fn of(nemesis: Nemesis) -> Self {
        match nemesis {
            Nemesis::Kill => Action::Kill,
            Nemesis::Wipe => Action::Wipe,
            Nemesis::DiskFull => Action::Fill,
            Nemesis::Corrupt => Action::Corrupt,
            _ => Action::Pause,
        }
    }

    /// Its word in a fault's kind (`kill-leader`, `catalog-pause-follower`, …).
    fn verb(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Pause => "pause",
            Action::Partition => "partition",
            Action::Wipe => "wipe",
            Action::Fill => "disk-full",
            Action::Corrupt => "corrupt",
        }
    }
}

/// What one fault is, decided before it is injected.
pub struct Plan {
    /// The nemesis that injects it.
    pub nemesis: Nemesis,
    /// What it does.
    pub action: Action,
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
    /// The id of the replica it hits (order or catalog), if it hits one.
    pub fn target_id(&self) -> Option<u32> {
        match self.target {
            Service::Order(id) | Service::Catalog(id) => Some(id),
            _ => None,
        }
    }

    /// SIGKILL (`Kill`), SIGSTOP (`Pause`) or wipe (`Wipe`) order replica `victim`, the
    /// leader or not.
    pub fn on_replica(nemesis: Nemesis, victim: u32, on_leader: bool) -> Self {
        let action = Action::of(nemesis);
        let role = if on_leader { "leader" } else { "follower" };
        Plan {
            nemesis,
            action,
            kind: format!("{}-{role}", action.verb()),
            target: Service::Order(victim),
            leader: on_leader,
            partition: None,
        }
    }

    /// `action` (kill, pause or wipe) on catalog replica `victim`, its leader or not (`kind`
    /// `catalog-<verb>-<role>`; with a lone catalog, `catalog-<verb>`).
    pub fn on_catalog(nemesis: Nemesis, action: Action, victim: u32, role: Option<bool>) -> Self {
        let verb = action.verb();
        let kind = match role {
            None => format!("catalog-{verb}"),
            Some(true) => format!("catalog-{verb}-leader"),
            Some(false) => format!("catalog-{verb}-follower"),
        };
        Plan {
            nemesis,
            action,
            kind,
            target: Service::Catalog(victim),
            leader: false,
            partition: None,
        }
    }
}

/// The store a fault is planned for: its replicas, its catalogs (and which leads them),
/// and whether it runs a second front-end.
pub struct Layout {
    /// The order replicas' ids.
    pub replicas: Vec<u32>,
    /// The catalog replicas' ids, in the cluster file's order.
    pub catalogs: Vec<u32>,
    /// The catalog replica that leads, if known.
    pub catalog_leader: Option<u32>,
    /// Whether a second front-end runs.
    pub second_frontend: bool,
}

impl Layout {
    /// The layout of a running store.
    pub fn of(cluster: &Cluster) -> Self {
        Self {
            replicas: cluster.replica_ids(),
            catalogs: cluster.catalog_ids(),
            catalog_leader: None,
            second_frontend: cluster.has_second_frontend(),
        }
    }

    /// The same layout, with `leader` leading the catalog.
    pub fn with_catalog_leader(self, leader: Option<u32>) -> Self {
        Self {
            catalog_leader: leader,
            ..self
        }
    }

    /// Whether the catalog has several replicas (a Raft group of its own).
    pub fn replicated_catalog(&self) -> bool {
        self.catalogs.len() > 1
    }

    /// The catalog replica a catalog fault on "the catalog" hits: its leader if known,
    /// else the cluster file's first (catalog 1 if the layout lists none).
    pub fn catalog(&self) -> Service {
        Service::Catalog(self.catalog_id())
    }

    /// The id of [`Layout::catalog`].
    pub fn catalog_id(&self) -> u32 {
        self.catalog_leader
            .or_else(|| self.catalogs.first().copied())
            .unwrap_or(1)
    }

    /// A catalog replica other than the leader, chosen by `rng` (the leader if none).
    pub fn catalog_follower(&self, rng: &mut StdRng) -> u32 {
        other_than(&self.catalogs, self.catalog_id(), rng)
    }

    /// A follower of `leader`, chosen by `rng` (the leader itself if it has none).
    pub fn follower(&self, leader: u32, rng: &mut StdRng) -> u32 {
        other_than(&self.replicas, leader, rng)
    }
}

/// One of `ids` other than `leader`, chosen by `rng` (`leader` if there is none).
fn other_than(ids: &[u32], leader: u32, rng: &mut StdRng) -> u32 {
    let others: Vec<u32> = ids.iter().copied().filter(|id| *id != leader).collect();
    others
        .get(rng.random_range(0..others.len().max(1)))
        .copied()
        .unwrap_or(leader)
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
            // With a replicated catalog, one fault in three hits the catalog's leader.
            if layout.replicated_catalog() && count % 3 == 1 {
                let action = Action::of(nemesis);
                return Plan::on_catalog(nemesis, action, layout.catalog_id(), Some(true));
            }
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
                Partition::IsolateCatalog => layout.catalog(),
                _ => Service::Order(leader),
            };
            Plan {
                nemesis,
                action: Action::Partition,
                kind: p.kind().to_string(),
                target,
                leader: p.hits_leader(),
                partition: Some(p),
            }
        }
        Nemesis::Catalog if !layout.replicated_catalog() => {
            Plan::on_catalog(nemesis, Action::Kill, layout.catalog_id(), None)
        }
        Nemesis::Catalog => match count % 3 {
            0 => Plan::on_catalog(nemesis, Action::Kill, layout.catalog_id(), Some(true)),
            1 => Plan::on_catalog(nemesis, Action::Pause, layout.catalog_id(), Some(true)),
            _ => {
                let victim = layout.catalog_follower(rng);
                Plan::on_catalog(nemesis, Action::Kill, victim, Some(false))
            }
        },
        Nemesis::Wipe | Nemesis::Corrupt => match count % 3 {
            // A lone catalog has no peer to rebuild it from: only replicas are wiped.
            2 if layout.replicated_catalog() => {
                let on_leader = (count / 3).is_multiple_of(2);
                let victim = if on_leader {
                    layout.catalog_id()
                } else {
                    layout.catalog_follower(rng)
                };
                Plan::on_catalog(nemesis, Action::of(nemesis), victim, Some(on_leader))
            }
            0 => Plan::on_replica(nemesis, leader, true),
            _ => Plan::on_replica(nemesis, layout.follower(leader, rng), false),
        },
        Nemesis::DiskFull => match count % 3 {
            // The catalog's leader (a lone catalog: purchases stop until it is freed).
            2 => {
                let role = layout.replicated_catalog().then_some(true);
                Plan::on_catalog(nemesis, Action::Fill, layout.catalog_id(), role)
            }
            0 => Plan::on_replica(nemesis, leader, true),
            _ => Plan::on_replica(nemesis, layout.follower(leader, rng), false),
        },
        Nemesis::Frontend => {
            let second = count % 2 == 1 && layout.second_frontend;
            Plan {
                nemesis,
                action: Action::Kill,
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
    match plan.action {
        Action::Kill => cluster.kill(plan.target).await,
        Action::Wipe => {
            cluster.kill(plan.target).await?;
            let file = replica_file(cluster, plan.target)?;
            std::fs::remove_file(&file).with_context(|| format!("wiping {}", file.display()))
        }
        Action::Pause => cluster.pause(plan.target),
        Action::Corrupt => corrupt(cluster, plan.target).await,
        Action::Fill => {
            let reserve = cluster.config().order.disk_reserve;
            cluster
                .disk(plan.target)
                .with_context(|| {
                    format!(
                        "the disk-full nemesis needs {} on a disk of its own",
                        plan.target
                    )
                })?
                .fill_until(reserve / 2)
        }
        Action::Partition => {
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

/// The file of replica `service` (order or catalog): where its data is, the target of the
/// data directory's link if the replica has a disk of its own ([`crate::disks`]), so that
/// wiping or setting it aside keeps the link and the replica's next file is on that disk.
fn replica_file(cluster: &Cluster, service: Service) -> anyhow::Result<std::path::PathBuf> {
    let file = match service {
        Service::Order(id) => cluster.config().order_db(id),
        Service::Catalog(id) => cluster.config().catalog_db(id),
        other => anyhow::bail!("{other} has no replica file"),
    };
    match std::fs::read_link(&file) {
        Ok(target) => Ok(match file.parent() {
            Some(dir) => dir.join(target),
            None => target,
        }),
        Err(_) => Ok(file),
    }
}

/// How long a replica started on a damaged file may take to refuse it.
const REFUSE_WITHIN: Duration = Duration::from_secs(30);

/// Kills replica `service`, flips a byte of every copy of its log's kind in its file (the
/// `meta` table's page then fails its checksum), and starts it again: it must refuse the
/// file and exit.
async fn corrupt(cluster: &mut Cluster, service: Service) -> anyhow::Result<()> {
    cluster.kill(service).await?;
    let file = replica_file(cluster, service)?;
    let kind = match service {
        Service::Catalog(_) => crate::logfile::Kind::Catalog,
        _ => crate::logfile::Kind::Order,
    }
    .as_str()
    .as_bytes();
    let flipped = toystore_store::tamper::flip_every(&file, kind)
        .with_context(|| format!("corrupting {}", file.display()))?;
    anyhow::ensure!(flipped > 0, "{} holds no {:?}", file.display(), kind);
    cluster.spawn(service)?;
    let deadline = tokio::time::Instant::now() + REFUSE_WITHIN;
    while cluster.is_running(service) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{service} started on its corrupted file {}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Undoes `plan`'s fault and waits until the service it hit answers again (a partition:
/// until the network is healed).
pub async fn undo(cluster: &mut Cluster, plan: &Plan) -> anyhow::Result<()> {
    let patience = Duration::from_secs(60);
    match plan.action {
        Action::Kill | Action::Wipe => cluster
            .restart(plan.target, patience)
            .await
            .with_context(|| format!("restarting {}", plan.target)),
        Action::Corrupt => {
            let file = replica_file(cluster, plan.target)?;
            crate::logfile::set_aside(&file)
                .with_context(|| format!("setting {} aside", file.display()))?;
            cluster
                .restart(plan.target, patience)
                .await
                .with_context(|| format!("rebuilding {}", plan.target))
        }
        Action::Pause => {
            cluster.resume(plan.target)?;
            cluster
                .wait_healthy(plan.target, patience)
                .await
                .with_context(|| format!("resuming {}", plan.target))
        }
        Action::Partition => cluster
            .hosts()
            .context("the partition nemesis needs separate hosts")?
            .heal(),
        Action::Fill => {
            cluster
                .disk(plan.target)
                .with_context(|| format!("{} has no disk of its own", plan.target))?
                .free()?;
            cluster
                .wait_healthy(plan.target, patience)
                .await
                .with_context(|| format!("{} after its disk was freed", plan.target))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    /// The faults of a run: (kind, target) for each, the leader changing as a run's might.
    fn faults(seed: u64, leaders: &[u32]) -> Vec<(String, Service)> {
        let layout = Layout {
            replicas: vec![3, 2, 1],
            catalogs: vec![1],
            catalog_leader: None,
            second_frontend: true,
        };
        // Every nemesis, in the order a run with all of them takes them.
        let nemeses = Nemesis::value_variants();
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
        // Ten rounds of every nemesis.
        let every = Nemesis::value_variants().len();
        let leaders = vec![3; 10 * every];
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
            if kind.contains("catalog") {
                assert_eq!(*target, Service::Catalog(1), "{kind}");
            }
        }
        let partitions: Vec<&str> = kinds
            .iter()
            .copied()
            .filter(|k| PARTITIONS.iter().any(|p| p.kind() == *k))
            .collect();
        assert_eq!(partitions.len(), 10, "one fault in {every}");
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

    #[test]
    fn a_replicated_catalog_takes_a_third_of_the_faults_its_leader_most() {
        let layout = Layout {
            replicas: vec![1, 2, 3],
            catalogs: vec![1, 2, 3],
            catalog_leader: Some(2),
            second_frontend: true,
        };
        let mut rng = StdRng::seed_from_u64(3);
        let catalog: Vec<(String, Service)> = (0..6)
            .map(|i| plan(Nemesis::Catalog, i, 3, &layout, &mut rng))
            .map(|p| (p.kind, p.target))
            .collect();
        let kinds: Vec<&str> = catalog.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds[..3],
            [
                "catalog-kill-leader",
                "catalog-pause-leader",
                "catalog-kill-follower"
            ]
        );
        assert_eq!(catalog[0].1, Service::Catalog(2));
        assert_eq!(catalog[1].1, Service::Catalog(2));
        assert!(matches!(catalog[2].1, Service::Catalog(id) if id != 2));
        let pause = plan(Nemesis::Pause, 1, 3, &layout, &mut rng);
        assert_eq!(
            (pause.kind.as_str(), pause.target, pause.action),
            ("catalog-pause-leader", Service::Catalog(2), Action::Pause)
        );
        let isolate = plan(Nemesis::Partition, 4, 3, &layout, &mut rng);
        assert_eq!(isolate.target, Service::Catalog(2), "{}", isolate.kind);
        // kill, pause, partition, catalog, frontend in turn: about a third on the catalog.
        // Every nemesis, in the order a run with all of them takes them.
        let nemeses = Nemesis::value_variants();
        let mut counts: BTreeMap<Nemesis, usize> = BTreeMap::new();
        let on_catalog = (0..150)
            .map(|i| {
                let nemesis = nemeses[i % nemeses.len()];
                let count = counts.entry(nemesis).or_default();
                let p = plan(nemesis, *count, 3, &layout, &mut rng);
                *count += 1;
                p.target
            })
            .filter(|t| matches!(t, Service::Catalog(_)))
            .count();
        assert!(
            (45..=60).contains(&on_catalog),
            "{on_catalog} of 150 on the catalog"
        );
    }

    #[test]
    fn wipes_take_the_leader_a_follower_and_a_catalog_replica_but_never_a_lone_catalog() {
        let mut rng = StdRng::seed_from_u64(3);
        let replicated = Layout {
            replicas: vec![1, 2, 3],
            catalogs: vec![1, 2, 3],
            catalog_leader: Some(2),
            second_frontend: false,
        };
        let planned: Vec<(String, Service, Action)> = (0..6)
            .map(|count| {
                let p = plan(Nemesis::Wipe, count, 3, &replicated, &mut rng);
                (p.kind, p.target, p.action)
            })
            .collect();
        assert!(planned.iter().all(|(_, _, a)| *a == Action::Wipe));
        assert_eq!(planned[0].0, "wipe-leader");
        assert_eq!(planned[0].1, Service::Order(3));
        assert_eq!(planned[1].0, "wipe-follower");
        assert_ne!(planned[1].1, Service::Order(3));
        assert_eq!(planned[2].0, "catalog-wipe-leader");
        assert_eq!(planned[2].1, Service::Catalog(2));
        assert_eq!(planned[5].0, "catalog-wipe-follower");
        assert!(matches!(planned[5].1, Service::Catalog(id) if id != 2));

        let lone = Layout {
            catalogs: vec![1],
            catalog_leader: None,
            ..replicated
        };
        for count in 0..9 {
            let p = plan(Nemesis::Wipe, count, 3, &lone, &mut rng);
            assert!(
                matches!(p.target, Service::Order(_)),
                "a lone catalog was wiped: {}",
                p.kind
            );
        }
    }
}
