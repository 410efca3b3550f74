//! [`Service`]: one service of a store, as the launcher, the netns hosts and the nemeses
//! name it (`catalog`, `order-<id>`, `frontend`, `frontend-2`).

/// One service of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// The catalog.
    Catalog,
    /// Order replica with this id.
    Order(u32),
    /// The front-end.
    Frontend,
    /// A second front-end on the same replicas (e.g. one on each side of a partition).
    SecondFrontend,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Service::Catalog => f.write_str("catalog"),
            Service::Order(id) => write!(f, "order-{id}"),
            Service::Frontend => f.write_str("frontend"),
            Service::SecondFrontend => f.write_str("frontend-2"),
        }
    }
}
