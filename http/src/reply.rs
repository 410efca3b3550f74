//! The JSON envelope of every reply, and the mapping of every rejection to it.
//!
//! Success: `{"data": ...}`. Failure: `{"error": {"code": <status>, "message": "..."}}`,
//! where `code` always equals the HTTP status and `message` is short and lower-case.

use serde::Serialize;
use std::borrow::Cow;
use std::convert::Infallible;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Rejection, Reply};

/// An error reply: a status and a short lower-case message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (and the `code` field).
    pub status: StatusCode,
    /// The `message` field.
    pub message: Cow<'static, str>,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400 with a message saying what is wrong with the request.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 503.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 500, for failures of this service itself (storage), never for bad input.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl warp::reject::Reject for ApiError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: u16,
    message: &'a str,
}

#[derive(Serialize)]
struct DataBody<'a, T> {
    data: &'a T,
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorFields {
                code: self.status.as_u16(),
                message: &self.message,
            },
        };
        warp::reply::with_status(warp::reply::json(&body), self.status).into_response()
    }
}

/// `200 {"data": value}`.
pub fn data<T: Serialize>(value: &T) -> Response {
    warp::reply::json(&DataBody { data: value }).into_response()
}

/// A handler's result as a reply: the data envelope or the error envelope.
pub fn respond<T: Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(value) => data(&value),
        Err(e) => e.into_response(),
    }
}

/// Maps any rejection to the JSON error envelope; install with `.recover(recover)` on the
/// whole route tree. Unknown paths are 404, known paths with another method 405, and
/// warp's own body and header errors their 4xx.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    Ok(rejection_to_error(&rejection).into_response())
}

fn rejection_to_error(r: &Rejection) -> ApiError {
    use warp::reject;
    if let Some(e) = r.find::<ApiError>() {
        return e.clone();
    }
    if r.is_not_found() {
        return ApiError::not_found("not found");
    }
    if r.find::<reject::MethodNotAllowed>().is_some() {
        return ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    if r.find::<reject::PayloadTooLarge>().is_some() {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    if r.find::<reject::UnsupportedMediaType>().is_some() {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content type must be application/json",
        );
    }
    if r.find::<reject::InvalidQuery>().is_some() {
        return ApiError::bad_request("invalid query string");
    }
    if let Some(e) = r.find::<reject::MissingHeader>() {
        return ApiError::bad_request(format!("missing header {}", e.name()));
    }
    if let Some(e) = r.find::<reject::InvalidHeader>() {
        return ApiError::bad_request(format!("invalid header {}", e.name()));
    }
    if r.find::<reject::LengthRequired>().is_some() {
        return ApiError::new(StatusCode::LENGTH_REQUIRED, "content length required");
    }
    tracing::warn!(rejection = ?r, "unhandled rejection");
    ApiError::bad_request("bad request")
}
