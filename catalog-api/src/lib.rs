//! What a caller of the catalog needs, apart from the catalog itself: the wire types of its
//! internal endpoints ([`wire`]), the statuses its refusals travel as ([`BuyRefusal`]: the
//! one table its server answers with and its callers read), the typed client
//! ([`CatalogClient`]) and the one follower of its event stream ([`follow`]). The front-end
//! and the order replicas depend on this crate, not on the catalog's server and storage.
//! With the `fake` feature, a hand-written catalog replica for tests (`fake`).

pub mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod follow;
pub mod refusal;
pub mod wire;

pub use client::CatalogClient;
pub use refusal::BuyRefusal;
pub use wire::{BuyReply, ByName, Health, Product, ProductList, ProductReply, RestockReply};
