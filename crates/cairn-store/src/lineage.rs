//! The lineage graph's storage: the edges tracking data already implies (inputs, outputs,
//! parent tags, commits, artifact manifests, registered versions) read where they are, plus the
//! edges nothing else records, stored as edges.

use async_trait::async_trait;
use cairn_core::lineage::{Direction, Edge, Node, NodeInfo};

use crate::Result;

#[async_trait]
pub trait LineageStore: Send + Sync + 'static {
    /// Records edges no other data shows (a run using a file, producing a dataset, a fork, a
    /// reproduction). Recording an edge again changes nothing.
    async fn record_lineage(&self, edges: Vec<Edge>, now: i64) -> Result<()>;
    /// The edges of `nodes` one step in `direction`: upstream, the edges that end at a node;
    /// downstream, those that start at one; both, either. At most `limit` edges per node and
    /// kind of relation. Sorted, without duplicates.
    async fn lineage_edges(
        &self,
        nodes: Vec<Node>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<Edge>>;
    /// Labels for nodes, in the order given; a node the store knows nothing of is labelled by
    /// its id.
    async fn describe_nodes(&self, nodes: Vec<Node>) -> Result<Vec<NodeInfo>>;
}
