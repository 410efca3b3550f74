//! The cluster token that every internal endpoint demands.
//!
//! Callers send `Authorization: Bearer <token>` ([`ClusterToken`], compared in constant
//! time). A missing or wrong token is
//! `401 {"error": {"code": 401, "message": "missing or invalid cluster token"}}`.

use crate::ApiError;
use toystore_config::ClusterToken;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

/// A filter that passes with the right token and rejects with 401 otherwise.
pub fn require(token: &ClusterToken) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let token = token.clone();
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let ok = token.accepts(header.as_deref());
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(warp::reject::custom(unauthorized()))
                }
            }
        })
        .untuple_one()
}

fn unauthorized() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "missing or invalid cluster token")
}
