//! Backup and restore (issue 26), under both election policies.
//!
//! Under load, `tools backup` copies the order leader's and the catalog's state machines
//! from their URLs; purchases go on meanwhile. The backup is checked (`tools replay`), one
//! follower of the running store is wiped and restored from it (`tools restore --replica`):
//! it rejoins as a learner and the three files end equal. Then `tools restore` seeds a
//! fresh cluster (new ports, new files) from the backups: it elects, every order
//! acknowledged before the backup began is there, and it sells again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spec, start, stop, tools};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use toystore_config::Election;
use toystore_harness::Service;

/// Orders acknowledged before the backup begins (at least).
const BEFORE: u64 = 60;
/// Concurrent buyers.
const BUYERS: usize = 4;
const TOYS: [&str; BUYERS] = ["Tux", "Whale", "Elephant", "Bird"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_a_backup_under_load_restores_a_replica_and_a_new_cluster() {
    scenario(Election::Raft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_a_backup_under_load_restores_a_replica_and_a_new_cluster() {
    scenario(Election::Frontend).await;
}

/// What a buyer acknowledged: order number → (toy, acknowledged before the backup began).
type Acked = Arc<Mutex<BTreeMap<u64, (String, bool)>>>;

/// Runs `tools ARGS` on a blocking thread, so the buyers' tasks go on meanwhile.
async fn off_runtime(args: &[&str]) -> common::Run {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || tools(args))
        .await
        .unwrap()
}

async fn scenario(election: Election) {
    let dir = tempfile::tempdir().unwrap();
    let mut first = spec(&dir.path().join("first"));
    first.config.order.election = election;
    let mut cluster = start(first).await;
    let frontend = cluster.frontend().clone();

    // Buyers that run until told to stop, recording each acknowledged order.
    let acked: Acked = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let backing_up = Arc::new(AtomicBool::new(false));
    let stop_buying = Arc::new(AtomicBool::new(false));
    let mut buyers = Vec::new();
    for (b, toy) in TOYS.iter().enumerate() {
        let (frontend, acked, count) = (frontend.clone(), acked.clone(), count.clone());
        let (backing_up, stop_buying) = (backing_up.clone(), stop_buying.clone());
        buyers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop_buying.load(Ordering::SeqCst) {
                let key = format!("backup-{b}-{i}");
                // Read before the request: an order counts as before the backup only if
                // it was acknowledged before the backup began.
                let before = !backing_up.load(Ordering::SeqCst);
                match frontend.buy(toy, 1, Some(&key)).await {
                    Ok(n) => {
                        let before = before && !backing_up.load(Ordering::SeqCst);
                        acked
                            .lock()
                            .unwrap()
                            .insert(n.order_number.get(), (toy.to_string(), before));
                        count.fetch_add(1, Ordering::SeqCst);
                        i += 1;
                    }
                    // Sold out until the restock, or not now: try again (same key).
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    while count.load(Ordering::SeqCst) < BEFORE {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The backups, from the order leader and the catalog, while the buyers buy.
    let leader = cluster.wait_leader(Duration::from_secs(30)).await.unwrap();
    let orders = dir.path().join("order.backup.redb");
    let catalog = dir.path().join("catalog.backup.redb");
    let config = cluster.config_path().to_path_buf();
    let order_url = cluster.url(Service::Order(leader));
    let catalog_url = cluster.url(Service::Catalog(cluster.first_catalog_id()));
    backing_up.store(true, Ordering::SeqCst);
    let before_backups = count.load(Ordering::SeqCst);
    let config_arg = config.display().to_string();
    let run = off_runtime(&[
        "backup",
        "--config",
        &config_arg,
        "--from",
        &order_url,
        "--out",
        &orders.display().to_string(),
    ])
    .await;
    run.expect_code(0)
        .stdout_has("toystore.order")
        .stdout_has("taken from the leader");
    let run = off_runtime(&[
        "backup",
        "--config",
        &config_arg,
        "--from",
        &catalog_url,
        "--out",
        &catalog.display().to_string(),
    ])
    .await;
    run.expect_code(0).stdout_has("toystore.catalog");
    stop_buying.store(true, Ordering::SeqCst);
    for buyer in buyers {
        buyer.await.unwrap();
    }
    // Purchases went on while the backups were taken (the buyers ran throughout, and a
    // backup holds no purchase up).
    assert!(
        count.load(Ordering::SeqCst) > before_backups,
        "no purchase was acknowledged during the backups"
    );
    // A second backup to the same file is refused; the backup is a replica file like any.
    tools([
        "backup".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--from".as_ref(),
        cluster.url(Service::Order(leader)).as_ref(),
        "--out".as_ref(),
        orders.as_os_str(),
    ])
    .expect_code(1)
    .stderr_has("exists");
    tools(["replay".as_ref(), orders.as_os_str()]).expect_code(0);
    tools(["replay".as_ref(), catalog.as_os_str()]).expect_code(0);

    // One follower wiped and restored from the backup: it rejoins, and catches up.
    let follower = cluster
        .replica_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    cluster.kill(Service::Order(follower)).await.unwrap();
    let file = cluster.config().order_db(follower);
    let id = follower.to_string();
    // Its file exists: refused.
    tools([
        "restore".as_ref(),
        orders.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--replica".as_ref(),
        id.as_ref(),
    ])
    .expect_code(1)
    .stderr_has("never overwrites");
    std::fs::remove_file(&file).unwrap();
    tools([
        "restore".as_ref(),
        orders.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--replica".as_ref(),
        id.as_ref(),
    ])
    .expect_code(0)
    .stdout_has("learner");
    cluster
        .restart(Service::Order(follower), Duration::from_secs(60))
        .await
        .unwrap();
    let number = frontend.buy("Tux", 1, Some("after-restore")).await.unwrap();
    cluster.converge(Duration::from_secs(60)).await.unwrap();
    let said = cluster
        .replica_client(follower)
        .unwrap()
        .health()
        .await
        .unwrap();
    assert!(said.voters.contains(&follower) && said.ready, "{said:?}");
    let log = std::fs::read_to_string(dir.path().join(format!("first/logs/order-{follower}.log")))
        .unwrap();
    assert!(log.contains("restored from a backup"), "{log}");
    assert!(log.contains("restored replica as no voter"), "{log}");
    let files: Vec<_> = cluster
        .replica_ids()
        .into_iter()
        .map(|id| cluster.config().order_db(id))
        .collect();
    stop(cluster).await;
    tools(
        ["diff".as_ref()]
            .into_iter()
            .chain(files.iter().map(|f| f.as_os_str())),
    )
    .expect_code(0);
    // A stopped replica's file is backed up directly, and holds the same events.
    let copy = dir.path().join("copy.redb");
    tools([
        "backup".as_ref(),
        "--from".as_ref(),
        files[0].as_os_str(),
        "--out".as_ref(),
        copy.as_os_str(),
    ])
    .expect_code(0);
    tools(["diff".as_ref(), files[0].as_os_str(), copy.as_os_str()]).expect_code(0);

    // A fresh cluster (other ports, other files) restored from the backups.
    let mut second = spec(&dir.path().join("second"));
    second.config.order.election = election;
    std::fs::create_dir_all(&second.config.data_dir).unwrap();
    let second_config = dir.path().join("second.toml");
    std::fs::write(&second_config, second.config.to_toml()).unwrap();
    for backup in [&orders, &catalog] {
        tools([
            "restore".as_ref(),
            backup.as_os_str(),
            "--config".as_ref(),
            second_config.as_os_str(),
        ])
        .expect_code(0)
        .stdout_has("elect");
    }
    let cluster = start(second).await;
    let frontend = cluster.frontend().clone();
    let acked = acked.lock().unwrap().clone();
    let before: Vec<_> = acked.iter().filter(|(_, (_, b))| *b).collect();
    assert!(before.len() as u64 >= BEFORE, "{}", before.len());
    for (n, (toy, _)) in before {
        let record = frontend.order(*n).await.unwrap();
        assert_eq!(record.name.to_string(), *toy, "order {n}");
    }
    // It sells, after the backup's last order (which the first store passed since).
    let last_before = acked
        .iter()
        .filter(|(_, (_, b))| *b)
        .map(|(n, _)| *n)
        .max()
        .unwrap();
    let placed = frontend.buy("Tux", 1, Some("restored")).await.unwrap();
    let placed = placed.order_number.get();
    assert!(placed > last_before, "{placed} after {last_before}");
    assert!(placed <= number.order_number.get(), "{placed}");
    stop(cluster).await;
}
