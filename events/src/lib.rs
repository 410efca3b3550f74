//! The event vocabulary of toystore and how events travel.
//!
//! Every service records what happened as an append-only log of events; every other view is
//! derived from that log. This crate owns:
//!
//! - [`Seq`], the position of an event in one log (the first event is `Seq(1)`; `Seq::ZERO`
//!   means "before the first event", so "everything after `Seq::ZERO`" is the whole log);
//! - the validated words of a purchase ([`ProductName`], [`Quantity`], [`RequestId`],
//!   [`OrderNumber`], with one error, [`InvalidInput`]): built only from valid values, checked
//!   once where input enters the store;
//! - the events themselves: [`CatalogEvent`] (the catalog's log) and [`OrderEvent`] (each
//!   order replica's log);
//! - [`codec`]: the value encoding (a format-version byte, then postcard), which never panics
//!   on foreign bytes;
//! - [`frame`]: the framing of an event stream over HTTP (events and heartbeats in a chunked
//!   body) as a `tokio_util::codec` codec, with a reader that resumes after a given sequence
//!   number.
//!
//! It opens no sockets or files: it turns values into bytes and bytes into values (and a
//! stream of byte chunks into a stream of events).

pub mod codec;
mod event;
pub mod frame;
mod purchase;
mod seq;
mod vocab;

pub use codec::{decode, encode, DecodeError, FORMAT_VERSION};
pub use event::{CatalogEvent, OrderEvent};
pub use frame::{read_all, read_stream, Frame, FrameCodec, FrameError, StreamItem};
pub use purchase::Purchase;
pub use seq::Seq;
pub use vocab::{
    InvalidInput, OrderNumber, ProductName, Quantity, RequestId, MAX_QUANTITY, MAX_REQUEST_ID,
};

/// An event type that has a log of its own. `KIND` is written into every log file, so a tool
/// or service that opens a file of another kind says so instead of misreading it.
pub trait LogEvent:
    serde::Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// The log kind, e.g. `"toystore.catalog"`.
    const KIND: &'static str;
}

impl LogEvent for CatalogEvent {
    const KIND: &'static str = "toystore.catalog";
}

impl LogEvent for OrderEvent {
    const KIND: &'static str = "toystore.order";
}
