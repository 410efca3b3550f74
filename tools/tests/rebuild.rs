//! A replica's damaged file (issue 26): flipped bytes in a stopped order replica's file
//! make the replica refuse to start, with a message naming the file and the command that
//! rebuilds it; `tools rebuild FILE` sets the file aside (and refuses a whole one without
//! `--force`, and, given the cluster file, the lone catalog's); started again, the replica rejoins with an empty file, is caught up, and the
//! three files end equal with every order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spec, start, stop, tools};
use std::time::Duration;
use toystore_harness::Service;

const ORDERS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_replica_file_is_refused_then_rebuilt_from_its_peers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start(spec(dir.path())).await;
    let frontend = cluster.frontend().clone();
    for i in 0..ORDERS {
        let key = format!("damaged-file-key-{i:03}");
        let number = frontend.buy("Tux", 1, Some(&key)).await.unwrap();
        assert_eq!(number.order_number.get(), i);
    }
    cluster.converge(Duration::from_secs(60)).await.unwrap();
    let leader = cluster.wait_leader(Duration::from_secs(30)).await.unwrap();
    let victim = cluster
        .replica_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    let file = cluster.config().order_db(victim);

    // A whole file is not set aside without --force (its service holds it: stop it first).
    cluster.kill(Service::Order(victim)).await.unwrap();
    tools(["rebuild".as_ref(), file.as_os_str()])
        .expect_code(1)
        .stderr_has("is not damaged");

    // A byte of an order's request id flipped (in every copy): the replica refuses to start.
    assert!(toystore_store::tamper::flip_every(&file, b"damaged-file-key-020").unwrap() > 0);
    cluster.spawn(Service::Order(victim)).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while cluster.is_running(Service::Order(victim)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replica started on a damaged file"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.path().join(format!("logs/order-{victim}.log"))).unwrap();
    assert!(log.contains("damaged"), "{log}");
    assert!(log.contains(&file.display().to_string()), "{log}");
    assert!(log.contains("tools rebuild"), "{log}");

    // The lone catalog's file is refused by the cluster file (it has no other copy).
    let config = cluster.config_path().to_path_buf();
    let catalog = cluster.config().catalog_db(cluster.first_catalog_id());
    tools([
        "rebuild".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        catalog.as_os_str(),
    ])
    .expect_code(1)
    .stderr_has("only replica");
    assert!(catalog.exists());

    // The documented command sets it aside; started again, the replica is rebuilt.
    let run = tools([
        "rebuild".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        file.as_os_str(),
    ]);
    run.expect_code(0)
        .stdout_has("is damaged")
        .stdout_has("set aside as");
    assert!(!file.exists());
    let aside: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept aside");
    cluster
        .restart(Service::Order(victim), Duration::from_secs(60))
        .await
        .unwrap();
    let number = frontend.buy("Tux", 1, Some("after-rebuild")).await.unwrap();
    assert_eq!(number.order_number.get(), ORDERS);
    cluster.converge(Duration::from_secs(60)).await.unwrap();
    let files: Vec<_> = cluster
        .replica_ids()
        .into_iter()
        .map(|id| cluster.config().order_db(id))
        .collect();
    stop(cluster).await;
    let diff = tools(
        ["diff".as_ref()]
            .into_iter()
            .chain(files.iter().map(|f| f.as_os_str())),
    );
    diff.expect_code(0);
}
