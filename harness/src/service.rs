//! [`Service`]: one service of a store, as the launcher, the netns hosts and the nemeses
//! name it (`catalog-<id>`, `order-<id>`, `frontend`, `frontend-2`): its log file is
//! `<name>.log`.

/// One service of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Catalog replica with this id.
    Catalog(u32),
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
            Service::Catalog(id) => write!(f, "catalog-{id}"),
            Service::Order(id) => write!(f, "order-{id}"),
            Service::Frontend => f.write_str("frontend"),
            Service::SecondFrontend => f.write_str("frontend-2"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_replica_ids() {
        assert_eq!(Service::Catalog(1).to_string(), "catalog-1");
        assert_eq!(Service::Catalog(3).to_string(), "catalog-3");
        assert_eq!(Service::Order(2).to_string(), "order-2");
        assert_eq!(Service::SecondFrontend.to_string(), "frontend-2");
    }
}
