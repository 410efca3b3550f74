//! Network partitions between services on separate hosts (network namespaces on a private
//! bridge, nftables drop rules; see `toystore_harness::netns`), in both election modes.
//!
//! For each partition — the leader isolated; the leader cut off from its followers while the
//! front-end still reaches it; a follower isolated; the catalog isolated; the replicas split
//! 1|2 with a front-end on each side (old leader and front-end 1 on the minority side,
//! catalog reachable from both) — clients buy through the front-ends during the partition,
//! then it is healed. It must show:
//!
//! - the minority side acknowledges nothing (front-end 1 during the split), and every
//!   acknowledged order is in every replica's log afterwards (an order acknowledged by a
//!   leader without a quorum would be truncated and show up missing);
//! - the majority sells again: in `raft` mode within [`RAFT_RESUME`] of the cut (the test
//!   prints the figure, in `frontend` mode too); a follower's isolation stops nothing; an
//!   isolated catalog makes purchases fail with a clear 503, and they sell again after the
//!   heal;
//! - after the heal both front-ends sell, every replica converges and the files are equal,
//!   with order numbers 0, 1, 2, … and no request id twice.
//!
//! Needs root (as CI runs): the test fails with the reason if it cannot build the hosts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use toystore_events::OrderEvent;
use toystore_harness::Service;
use toystore_order_api::{ReplicaStatus, Role};
use toystore_tests::{assert_gap_free, start_in, Election, Shop, READY};

/// How long clients buy while the partition holds.
const PARTITION: Duration = Duration::from_secs(5);
/// The bound on "sells again" in `raft` mode: about a second, as asked (measured 0.59–0.61 s
/// with all ten partition tests running at once on two cores; the rest is room for a
/// slower machine).
const RAFT_RESUME: Duration = Duration::from_millis(1500);
const TOYS: [&str; 5] = ["Tux", "Whale", "Elephant", "Bird", "Risk"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partition {
    IsolateLeader,
    LeaderFromFollowers,
    IsolateFollower,
    IsolateCatalog,
    Split,
}

macro_rules! partition_tests {
    ($($name:ident: $partition:expr, $election:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            scenario($partition, $election).await;
        }
    )*};
}

partition_tests! {
    raft_leader_isolated: Partition::IsolateLeader, Election::Raft;
    raft_leader_cut_off_from_followers: Partition::LeaderFromFollowers, Election::Raft;
    raft_follower_isolated: Partition::IsolateFollower, Election::Raft;
    raft_catalog_isolated: Partition::IsolateCatalog, Election::Raft;
    raft_split_one_two: Partition::Split, Election::Raft;
    frontend_leader_isolated: Partition::IsolateLeader, Election::Frontend;
    frontend_leader_cut_off_from_followers: Partition::LeaderFromFollowers, Election::Frontend;
    frontend_follower_isolated: Partition::IsolateFollower, Election::Frontend;
    frontend_catalog_isolated: Partition::IsolateCatalog, Election::Frontend;
    frontend_split_one_two: Partition::Split, Election::Frontend;
}

/// What one purchase came to.
#[derive(Debug, Clone)]
struct Outcome {
    key: String,
    invoked: Instant,
    done: Instant,
    /// The order number, or the status (0: no answer, or no readable one).
    result: Result<u64, u16>,
}

async fn scenario(partition: Partition, election: Election) {
    let store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |spec| {
        // Completing half-done purchases is another test's subject (half_done.rs): here
        // the logs must hold exactly what was acknowledged, so it must not run.
        spec.config.order.complete_after = Duration::from_secs(3_600);
        spec.config.catalog.stock = 10_000;
        spec.place_on_hosts(true)
            .expect("separate hosts need root, iproute2 and nftables");
    })
    .await
    .unwrap();
    let fe1 = store.shop.clone();
    let fe2 = store
        .shop
        .for_frontend(&store.cluster.url(Service::SecondFrontend))
        .unwrap();
    let ids = store.cluster.replica_ids();
    let mut acked: Vec<(String, u64)> = Vec::new();
    for (i, shop) in [&fe1, &fe2].into_iter().enumerate() {
        let key = format!("before-{i}");
        let (n, _) = shop.buy_until_placed(&key, "Tux", 1, READY).await.unwrap();
        acked.push((key, n));
    }
    let leader = leader_of(&fe1, &ids).await;
    // With one catalog, isolating it stops all purchases; with a replicated catalog, its
    // leader is cut off and the others elect a new one.
    let lone_catalog = store.cluster.catalog_ids().len() == 1;
    let catalog = store.cluster.wait_catalog_leader(READY).await.unwrap();
    let followers: Vec<u32> = ids.iter().copied().filter(|id| *id != leader).collect();
    let hosts = store.cluster.hosts().expect("the store runs on hosts");
    let all = hosts.services();
    let others = |s: Service| -> Vec<Service> { all.iter().copied().filter(|o| *o != s).collect() };
    let follower_services: Vec<Service> = followers.iter().map(|id| Service::Order(*id)).collect();
    // (shop clients use on the majority side, shop on the minority side)
    let (majority, minority) = match partition {
        Partition::IsolateLeader => {
            hosts
                .cut(Service::Order(leader), &others(Service::Order(leader)))
                .unwrap();
            (fe1.clone(), None)
        }
        Partition::LeaderFromFollowers => {
            hosts
                .cut(Service::Order(leader), &follower_services)
                .unwrap();
            (fe1.clone(), None)
        }
        Partition::IsolateFollower => {
            let f = Service::Order(followers[0]);
            hosts.cut(f, &others(f)).unwrap();
            (fe1.clone(), None)
        }
        Partition::IsolateCatalog => {
            hosts
                .cut(
                    Service::Catalog(catalog),
                    &others(Service::Catalog(catalog)),
                )
                .unwrap();
            (fe1.clone(), None)
        }
        Partition::Split => {
            let mut with_leader = follower_services.clone();
            with_leader.push(Service::SecondFrontend);
            hosts.cut(Service::Order(leader), &with_leader).unwrap();
            hosts.cut(Service::Frontend, &follower_services).unwrap();
            (fe2.clone(), Some(fe1.clone()))
        }
    };
    let cut = Instant::now();
    let until = cut + PARTITION;
    let majority_side = tokio::spawn(buyers(majority.clone(), "major", 4, until));
    let minority_side = minority.map(|shop| tokio::spawn(buyers(shop, "minor", 2, until)));
    let major = majority_side.await.unwrap();
    let minor = match minority_side {
        Some(task) => task.await.unwrap(),
        None => Vec::new(),
    };
    hosts.heal().unwrap();
    let healed = Instant::now();

    // The minority side acknowledged nothing while cut off.
    let minority_acks: Vec<&Outcome> = minor
        .iter()
        .filter(|o| o.result.is_ok() && o.done < healed)
        .collect();
    assert!(
        minority_acks.is_empty(),
        "{partition:?}/{election}: the minority side acknowledged {minority_acks:?}"
    );
    // The majority side: when did it sell again?
    let first_sale = major
        .iter()
        .filter(|o| o.result.is_ok() && o.invoked >= cut)
        .map(|o| o.done - cut)
        .min();
    eprintln!("{partition:?}/{election}: majority sold again {first_sale:?} after the cut");
    match partition {
        Partition::IsolateCatalog if lone_catalog => {
            assert_eq!(
                first_sale, None,
                "{partition:?}/{election}: purchases went through without the catalog"
            );
            let statuses: Vec<Result<u64, u16>> = major.iter().map(|o| o.result).collect();
            assert!(
                statuses.contains(&Err(503)),
                "{partition:?}/{election}: without the catalog purchases must fail with 503: {statuses:?}"
            );
        }
        _ => {
            let first_sale = first_sale.unwrap_or_else(|| {
                panic!("{partition:?}/{election}: the majority never sold during the partition")
            });
            // The catalog's replicas always elect on their own.
            if election == Election::Raft || partition == Partition::IsolateCatalog {
                assert!(
                    first_sale <= RAFT_RESUME,
                    "{partition:?}/{election}: the majority sold again only {first_sale:?} after the cut"
                );
            }
        }
    }
    acked.extend(
        major
            .iter()
            .chain(&minor)
            .filter_map(|o| o.result.ok().map(|n| (o.key.clone(), n))),
    );

    // After the heal both sides sell again.
    for (i, shop) in [&fe1, &fe2].into_iter().enumerate() {
        let key = format!("after-{i}");
        let (n, _) = shop.buy_until_placed(&key, "Tux", 1, READY).await.unwrap();
        acked.push((key, n));
    }
    eprintln!(
        "{partition:?}/{election}: both front-ends sold {:?} after the heal",
        healed.elapsed()
    );
    let last = acked.iter().map(|(_, n)| *n).max().unwrap_or(0);
    // Every replica converges on at least everything acknowledged (unknown outcomes may
    // have committed too: converge on whatever the leader holds).
    let said = fe1
        .wait_health(&ids, READY, |said| {
            let seqs: Vec<Option<u64>> = said
                .iter()
                .map(|h| h.as_ref().filter(|h| h.ready).map(|h| h.last_seq.0))
                .collect();
            seqs.iter()
                .all(|s| s.is_some_and(|s| s > last) && *s == seqs[0])
        })
        .await
        .unwrap();
    let roles: Vec<Option<Role>> = said.iter().map(|h| h.as_ref().map(|h| h.role)).collect();
    assert_eq!(
        roles.iter().filter(|r| **r == Some(Role::Leader)).count(),
        1,
        "{partition:?}/{election}: one leader after the heal, got {roles:?}"
    );

    let logs = store.stop_and_read_logs().await.unwrap();
    for (id, log) in ids.iter().zip(&logs) {
        assert_eq!(
            log, &logs[0],
            "{partition:?}/{election}: replica {id} diverged"
        );
    }
    let orders = decode(&logs[0]);
    assert_gap_free(&orders);
    let mut by_key: BTreeMap<&str, u64> = BTreeMap::new();
    for OrderEvent::OrderPlaced {
        number, request_id, ..
    } in &orders
    {
        assert!(
            by_key.insert(request_id, number.get()).is_none(),
            "{partition:?}/{election}: request id {request_id} has two orders"
        );
    }
    for (key, n) in &acked {
        assert_eq!(
            by_key.get(key.as_str()),
            Some(n),
            "{partition:?}/{election}: acknowledged order {n} ({key}) is not in the log"
        );
    }
}

fn decode(log: &[(toystore_events::Seq, Vec<u8>)]) -> Vec<OrderEvent> {
    log.iter()
        .map(|(_, bytes)| toystore_events::decode(bytes).unwrap())
        .collect()
}

/// The replica that says it leads once exactly one says so (asked from the tool's host,
/// which no partition cuts): the leader the partitions are placed around. (Not
/// `toystore_order_api::leader`, which would pick the newer of two that say they lead:
/// here a deposed leader still saying so would make the partition's place unclear.)
async fn leader_of(shop: &Shop, ids: &[u32]) -> u32 {
    let leading = |h: &Option<ReplicaStatus>| h.as_ref().is_some_and(|h| h.role == Role::Leader);
    let said = shop
        .wait_health(ids, READY, |said| {
            said.iter().filter(|h| leading(h)).count() == 1
        })
        .await
        .unwrap();
    ids.iter()
        .zip(&said)
        .find(|(_, h)| leading(h))
        .map(|(id, _)| *id)
        .unwrap()
}

/// `clients` loops buying one unit of a toy each (a fresh key per purchase) until `until`,
/// every 50 ms (the pace of the load, not a poll).
async fn buyers(shop: Shop, tag: &str, clients: usize, until: Instant) -> Vec<Outcome> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let shop = shop.clone();
            let tag = format!("{tag}-{c}");
            tokio::spawn(async move {
                let mut out = Vec::new();
                let mut k = 0;
                while Instant::now() < until {
                    let key = format!("{tag}-{k}");
                    let toy = TOYS[k % TOYS.len()];
                    k += 1;
                    let invoked = Instant::now();
                    let result = shop
                        .buy(&key, toy, 1)
                        .await
                        .map_err(|e| e.status().unwrap_or(0));
                    out.push(Outcome {
                        key,
                        invoked,
                        done: Instant::now(),
                        result,
                    });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}
