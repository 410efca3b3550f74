//! The storefront and the cluster page in a real browser: headless Chromium driven through
//! WebDriver (Debian's `chromium` and `chromium-driver`; `scripts/test` installs them).
//!
//! - the storefront lists every toy; buying one shows its order number; a purchase made
//!   elsewhere lowers the stock shown, live, without a reload; buying a sold-out toy shows
//!   a message worded for a person;
//! - the cluster page shows a leader, and after the test kills it, the new one.
//!
//! With `TOYSTORE_SCREENSHOTS=<dir>` the test saves both pages there (how the screenshots in
//! docs/ are made: `TOYSTORE_SCREENSHOTS=$PWD/docs/screenshots cargo test -p toystore-tests
//! --test browser`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use toystore_harness::probe::poll_until;
use toystore_harness::{free_ports, Service};
use toystore_tests::{start_with, READY};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How soon after the leader is killed the cluster page must show another: the replicas'
/// election (about a second, docs/EVALUATION.md), the front-end's health check and the
/// page's one-second poll, with room for a slow, shared machine.
const SHOWS_FAILOVER: Duration = Duration::from_secs(10);

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; scripts/test does)"
    );
    let port = free_ports(1).unwrap()[0];
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let status = format!("{}/status", driver.url);
    poll_until(READY, "chromedriver never became ready", || async {
        let r = http.get(&status).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .unwrap();
    driver
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1100,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("starting chromium through chromedriver")
}

/// Polls `check` (page state read through the browser) until it returns `Some`.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    within(READY, what, check).await
}

/// Polls `check` until it gives a value; fails the test if `limit` passes first.
async fn within<T, F, Fut>(limit: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll_until(limit, &format!("timed out waiting for {what}"), check)
        .await
        .unwrap()
}

/// The text of the first element matching `css`, if there is one.
async fn text(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

async fn save_screenshot(c: &Client, name: &str, height: u32) {
    if let Some(dir) = std::env::var_os("TOYSTORE_SCREENSHOTS").map(PathBuf::from) {
        std::fs::create_dir_all(&dir).unwrap();
        // The whole page, from its top.
        c.set_window_size(1100, height).await.unwrap();
        c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
        // Time for the resized page to lay out and paint (nothing to poll for: a
        // screenshot for people, not a check).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let png = c.screenshot().await.unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

/// At a phone's width (390 CSS pixels) the page needs no sideways scrolling (wide tables
/// scroll inside their own box); the window is put back afterwards.
async fn fits_a_phone(c: &Client, page: &str) {
    let (width, height) = c.get_window_size().await.unwrap();
    c.set_window_size(390, 844).await.unwrap();
    let fits = eventually("the phone layout", || async {
        let v = c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .ok()?;
        let (scroll, inner) = (v[0].as_u64()?, v[1].as_u64()?);
        (inner <= 400).then_some(scroll <= inner)
    })
    .await;
    assert!(fits, "{page} scrolls sideways on a phone");
    c.set_window_size(
        u32::try_from(width).unwrap(),
        u32::try_from(height).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storefront_and_cluster_page_work_in_a_real_browser() {
    let mut store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    let driver = driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    // Every toy is listed.
    let count = shop.frontend.products().await.unwrap().len();
    assert!(count >= 15);
    c.goto(&shop.url("/")).await.unwrap();
    eventually("every toy listed", || async {
        let rows = c.find_all(Locator::Css("#toys tbody tr")).await.ok()?;
        (rows.len() == count).then_some(())
    })
    .await;
    eventually("the live stream connected", || async {
        (text(&c, "#live").await? == "live").then_some(())
    })
    .await;
    // A marker that a reload would wipe.
    c.execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();

    // Buying shows the order number.
    let row = r#"#toys tr[data-toy="Tux"]"#;
    let qty = c
        .find(Locator::Css(&format!("{row} input.qty")))
        .await
        .unwrap();
    qty.clear().await.unwrap();
    qty.send_keys("2").await.unwrap();
    c.find(Locator::Css(&format!("{row} button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let message = eventually("an order number", || async {
        let m = text(&c, &format!("{row} .row-message")).await?;
        m.starts_with("Order #").then_some(m)
    })
    .await;
    let number: u64 = message
        .trim_start_matches("Order #")
        .trim_end_matches(" placed.")
        .parse()
        .unwrap();
    let order = shop.order(number).await.unwrap();
    assert_eq!((order.name.as_str(), order.quantity.get()), ("Tux", 2));

    // Someone else buys: the stock shown drops through /events, without a reload.
    // First the page must show the store's current stock (its own buy's refresh landed).
    let before = shop.quantity("Tux").await.unwrap();
    eventually("the page to show Tux's current stock", || async {
        let shown: u64 = text(&c, &format!("{row} .stock")).await?.parse().ok()?;
        (shown == before).then_some(())
    })
    .await;
    shop.buy("browser-elsewhere", "Tux", 5).await.unwrap();
    eventually("the stock to drop live", || async {
        let now: u64 = text(&c, &format!("{row} .stock")).await?.parse().ok()?;
        (now == before - 5).then_some(())
    })
    .await;
    let marker = c
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        marker,
        serde_json::Value::Bool(true),
        "the page was reloaded"
    );

    // A sold-out toy: the page says so, and buying it is refused in plain words.
    let whale = r#"#toys tr[data-toy="Whale"]"#;
    let left = shop.quantity("Whale").await.unwrap();
    shop.buy("browser-sell-out", "Whale", u32::try_from(left).unwrap())
        .await
        .unwrap();
    eventually("Whale shown as sold out", || async {
        (text(&c, &format!("{whale} .stock")).await? == "sold out").then_some(())
    })
    .await;
    c.find(Locator::Css(&format!("{whale} button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("a sold-out message", || async {
        let m = text(&c, &format!("{whale} .row-message")).await?;
        (m == "Sorry, there is not enough of this toy in stock.").then_some(())
    })
    .await;

    // Order lookup.
    let lookup = c.find(Locator::Id("order-number")).await.unwrap();
    lookup.send_keys(&number.to_string()).await.unwrap();
    c.find(Locator::Css("#lookup button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the order shown", || async {
        let m = text(&c, "#order-result").await?;
        (m == format!("Order #{number}: 2 × Tux.")).then_some(())
    })
    .await;
    save_screenshot(&c, "storefront.png", 1450).await;
    fits_a_phone(&c, "the storefront").await;

    // The cluster page shows the leader, then the new one after the leader is killed.
    c.goto(&shop.url("/cluster")).await.unwrap();
    let leader: u32 = eventually("a leader on the cluster page", || async {
        let row = c
            .find(Locator::Css(r#"#replicas tr[data-role="leader"]"#))
            .await
            .ok()?;
        row.attr("data-replica").await.ok()??.parse().ok()
    })
    .await;
    save_screenshot(&c, "cluster.png", 1000).await;
    fits_a_phone(&c, "the cluster page").await;
    store.cluster.kill(Service::Order(leader)).await.unwrap();
    // Within a few seconds: an election (about a second) and the page's one-second poll.
    let (new_leader, down) = within(
        SHOWS_FAILOVER,
        "the new leader on the cluster page",
        || async {
            let row = c
                .find(Locator::Css(r#"#replicas tr[data-role="leader"]"#))
                .await
                .ok()?;
            let id: u32 = row.attr("data-replica").await.ok()??.parse().ok()?;
            let old = c
                .find(Locator::Css(&format!(
                    r#"#replicas tr[data-replica="{leader}"]"#
                )))
                .await
                .ok()?;
            let old_role = old.attr("data-role").await.ok()??;
            (id != leader).then_some((id, old_role))
        },
    )
    .await;
    assert_ne!(new_leader, leader);
    assert_eq!(down, "down", "the killed leader shows as down");
    c.close().await.unwrap();
}
