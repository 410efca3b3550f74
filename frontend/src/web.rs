//! The browser pages, embedded in the binary (no CDN, no build step, works offline): the
//! storefront at `/` and the cluster page at `/cluster`, plain HTML, one stylesheet and a
//! small script each, from `frontend/web/`.
//!
//! The pages use only the public API: `/products`, `/orders`, `/events` (live stock) and
//! `/cluster/status`. Each asset is served with its content type and `no-cache`, so a new
//! binary's pages are picked up on the next load.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

const INDEX: &str = include_str!("../web/index.html");
const CLUSTER: &str = include_str!("../web/cluster.html");
const STYLE: &str = include_str!("../web/style.css");
const STORE_JS: &str = include_str!("../web/store.js");
const CLUSTER_JS: &str = include_str!("../web/cluster.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let reply = warp::reply::with_header(body, CONTENT_TYPE, content_type);
    warp::reply::with_header(reply, CACHE_CONTROL, "no-cache").into_response()
}

/// `GET /`, `GET /cluster` and `GET /assets/<file>`.
pub fn routes() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let html = "text/html; charset=utf-8";
    let index = warp::path::end()
        .and(warp::get())
        .map(move || asset(INDEX, html));
    let cluster = warp::path!("cluster")
        .and(warp::get())
        .map(move || asset(CLUSTER, html));
    let assets =
        warp::path!("assets" / String)
            .and(warp::get())
            .and_then(|file: String| async move {
                match file.as_str() {
                    "style.css" => Ok(asset(STYLE, "text/css; charset=utf-8")),
                    "store.js" => Ok(asset(STORE_JS, "text/javascript; charset=utf-8")),
                    "cluster.js" => Ok(asset(CLUSTER_JS, "text/javascript; charset=utf-8")),
                    _ => Err(warp::reject::not_found()),
                }
            });
    index.or(cluster).unify().or(assets).unify()
}
