//! The lineage service: walks the graph the store answers one step at a time, records what a
//! run used and produced, compares two runs' inputs, and forks runs.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::lineage::{
    Direction, Edge, FORK_STEP_TAG, FORKED_FROM_TAG, MAX_LINEAGE_DEPTH, MAX_LINEAGE_NODES, Node,
    NodeInfo, NodeKind, REPRODUCES_TAG, Relation,
};
use cairn_core::model::{LifecycleStage, Tag};
use cairn_core::{ids, validation};
use cairn_store::SeriesPoints;

use super::{CreateRun, EnsuredRun, RUN_NAME_TAG, RunExperiment, Tracking, now_ms, proxied_path};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Edges read per node and kind of relation when comparing two runs' inputs.
const EDGES_PER_NODE: usize = MAX_LINEAGE_NODES;

/// A piece of the lineage graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<NodeInfo>,
    pub edges: Vec<Edge>,
    /// The walk stopped at the node limit before reaching the requested depth.
    pub truncated: bool,
}

/// One input or output a client reports for a run.
#[derive(Debug, Clone)]
pub enum Reported {
    /// A node named directly (`dataset:name@digest`, `artifact:blake3:…`, `model:m-…`).
    Node(String),
    /// A file another (or the same) run stored, by run and path: becomes the file's digest.
    File { run_id: String, path: String },
}

/// Two runs' direct inputs, split by who has them.
#[derive(Debug, Clone, Default)]
pub struct InputsDiff {
    pub only_a: Vec<NodeInfo>,
    pub only_b: Vec<NodeInfo>,
    pub common: Vec<NodeInfo>,
}

impl Tracking {
    /// Fails with a 404 when `node` is a run, logged model or model version that does not exist.
    async fn check_node_exists(&self, node: &Node) -> ApiResult<()> {
        match node.kind {
            NodeKind::Run => self.get_run(&node.id).await.map(|_| ()),
            NodeKind::Model => self.get_logged_model(&node.id).await.map(|_| ()),
            NodeKind::ModelVersion => {
                let (name, version) = node.id.rsplit_once('/').unwrap_or((&node.id, ""));
                self.get_model_version(name, version).await.map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// Whether the caller may see a node: runs and logged models by their experiment; datasets,
    /// files, commits and registry versions are named by content or are server-wide.
    async fn node_readable(&self, node: &Node) -> ApiResult<bool> {
        let need = cairn_core::access::Permission::Read;
        let answer = match node.kind {
            NodeKind::Run => self.access.run(&node.id, need).await,
            NodeKind::Model => self.access.model(&node.id, need).await,
            _ => return Ok(true),
        };
        match answer {
            Ok(()) => Ok(true),
            Err(error) if error.code == ErrorCode::ResourceDoesNotExist => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The graph around `node`: breadth first, up to `depth` steps upstream, downstream or both
    /// (each walked on its own, so "both" does not wander into siblings), at most `max_nodes`,
    /// stepping only onto nodes of `kinds` when given (the start node is always there).
    pub async fn lineage(
        &self,
        node: &str,
        direction: Direction,
        depth: usize,
        max_nodes: usize,
        kinds: &[NodeKind],
    ) -> ApiResult<Graph> {
        let start = Node::parse(node)?;
        if !(1..=MAX_LINEAGE_DEPTH).contains(&depth) {
            return Err(ApiError::invalid(format!(
                "depth must be between 1 and {MAX_LINEAGE_DEPTH}, got {depth}"
            )));
        }
        if !(1..=MAX_LINEAGE_NODES).contains(&max_nodes) {
            return Err(ApiError::invalid(format!(
                "max_nodes must be between 1 and {MAX_LINEAGE_NODES}, got {max_nodes}"
            )));
        }
        self.check_node_exists(&start).await?;
        let walks: &[Direction] = match direction {
            Direction::Both => &[Direction::Upstream, Direction::Downstream],
            Direction::Upstream => &[Direction::Upstream],
            Direction::Downstream => &[Direction::Downstream],
        };
        let mut seen: BTreeSet<Node> = BTreeSet::from([start.clone()]);
        let mut edges: BTreeSet<Edge> = BTreeSet::new();
        let mut truncated = false;
        for walk in walks {
            let mut frontier = vec![start.clone()];
            for _ in 0..depth {
                if frontier.is_empty() {
                    break;
                }
                // One more edge per query than nodes may be shown: a node with more neighbours
                // than that fills the graph and marks it truncated, never silently.
                let step = self
                    .store
                    .lineage_edges(frontier.clone(), *walk, max_nodes + 1)
                    .await?;
                let mut next = Vec::new();
                for edge in step {
                    let far = match walk {
                        Direction::Upstream => &edge.from,
                        _ => &edge.to,
                    };
                    if !kinds.is_empty() && !kinds.contains(&far.kind) {
                        continue;
                    }
                    // Runs and models the caller may not read are neither shown nor walked
                    // through.
                    if !seen.contains(far) && !self.node_readable(far).await? {
                        continue;
                    }
                    if !seen.contains(far) {
                        if seen.len() >= max_nodes {
                            truncated = true;
                            continue;
                        }
                        seen.insert(far.clone());
                        next.push(far.clone());
                    }
                    edges.insert(edge);
                }
                frontier = next;
            }
        }
        let nodes = self
            .store
            .describe_nodes(seen.into_iter().collect())
            .await?;
        Ok(Graph {
            nodes,
            edges: edges.into_iter().collect(),
            truncated,
        })
    }

    /// Records what a run used (`inputs`) and produced (`outputs`) that tracking does not show
    /// by itself. Files named by run and path are resolved to their digest now, so the edge
    /// survives the file being replaced later.
    pub async fn record_run_lineage(
        &self,
        run_id: &str,
        inputs: Vec<Reported>,
        outputs: Vec<Reported>,
    ) -> ApiResult<usize> {
        self.writable_run(run_id).await?;
        let run = self.get_run(run_id).await?;
        if run.info.lifecycle_stage != LifecycleStage::Active {
            return Err(ApiError::invalid(format!(
                "The run {run_id} is deleted: its lineage cannot change"
            )));
        }
        let this = Node::run(run_id);
        let mut edges = Vec::with_capacity(inputs.len() + outputs.len());
        for (reported, is_input) in inputs
            .into_iter()
            .map(|r| (r, true))
            .chain(outputs.into_iter().map(|r| (r, false)))
        {
            let node = self.reported_node(reported).await?;
            if node == this {
                return Err(ApiError::invalid("A run cannot be its own input or output"));
            }
            edges.push(if is_input {
                Edge::new(node, Relation::Input, this.clone())
            } else {
                Edge::new(this.clone(), Relation::Output, node)
            });
        }
        let count = edges.len();
        self.store.record_lineage(edges, now_ms()).await?;
        Ok(count)
    }

    async fn reported_node(&self, reported: Reported) -> ApiResult<Node> {
        match reported {
            Reported::Node(text) => {
                let node = Node::parse(&text)?;
                match node.kind {
                    NodeKind::Dataset | NodeKind::Artifact | NodeKind::Model => {}
                    other => {
                        return Err(ApiError::invalid(format!(
                            "A run's reported inputs and outputs are datasets, files (artifact) \
                             and logged models, not {}",
                            other.as_str()
                        )));
                    }
                }
                if node.kind == NodeKind::Artifact && !is_digest(&node.id) {
                    return Err(ApiError::invalid(format!(
                        "Invalid file digest '{}': expected blake3:<64 hex digits>",
                        node.id
                    )));
                }
                self.check_node_exists(&node).await?;
                Ok(node)
            }
            Reported::File { run_id, path } => {
                let run = self.get_run(&run_id).await?;
                let root = proxied_path(&run.info.artifact_uri).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "The run {run_id} keeps its files outside Cairn ({}): they have no digest",
                        run.info.artifact_uri
                    ))
                })?;
                let full = format!("{}/{}", root.as_string(), path.trim_matches('/'));
                let entry = self.store.get_artifact(&full).await?.ok_or_else(|| {
                    ApiError::not_found(format!("The run {run_id} has no file '{path}'"))
                })?;
                Ok(Node::new(NodeKind::Artifact, entry.digest))
            }
        }
    }

    /// What two runs consumed (datasets, models, files, code, parent), split into what only one
    /// of them has and what both have.
    pub async fn lineage_diff(&self, a: &str, b: &str) -> ApiResult<InputsDiff> {
        self.get_run(a).await?;
        self.get_run(b).await?;
        let inputs = |edges: Vec<Edge>| -> BTreeSet<Node> {
            edges.into_iter().map(|edge| edge.from).collect()
        };
        let of_a = inputs(
            self.store
                .lineage_edges(vec![Node::run(a)], Direction::Upstream, EDGES_PER_NODE)
                .await?,
        );
        let of_b = inputs(
            self.store
                .lineage_edges(vec![Node::run(b)], Direction::Upstream, EDGES_PER_NODE)
                .await?,
        );
        let all: Vec<Node> = of_a.union(&of_b).cloned().collect();
        let described: BTreeMap<Node, NodeInfo> = self
            .store
            .describe_nodes(all)
            .await?
            .into_iter()
            .map(|info| (info.node.clone(), info))
            .collect();
        let mut diff = InputsDiff::default();
        for (node, info) in described {
            match (of_a.contains(&node), of_b.contains(&node)) {
                (true, true) => diff.common.push(info),
                (true, false) => diff.only_a.push(info),
                _ => diff.only_b.push(info),
            }
        }
        Ok(diff)
    }
}

/// Points copied per ingest request while forking.
const FORK_CHUNK: usize = 100_000;

/// Tags a fork does not inherit: its own name and link tags.
fn inherited(tag: &Tag) -> bool {
    tag.key != RUN_NAME_TAG
        && tag.key != FORKED_FROM_TAG
        && tag.key != FORK_STEP_TAG
        && tag.key != REPRODUCES_TAG
}

impl Tracking {
    /// Continues `source_id` in a new run from `step`: the new run (in the same experiment,
    /// under `new_run_id` when given, idempotently) gets the source's params and tags and every
    /// metric point at or before `step`, tagged with where it came from. Answers the new run
    /// and whether this call created it (an existing fork is returned as it is).
    pub async fn fork_run(
        &self,
        source_id: &str,
        step: i64,
        new_run_id: Option<String>,
        run_name: Option<String>,
    ) -> ApiResult<EnsuredRun> {
        let source = self.get_run(source_id).await?;
        if source.info.lifecycle_stage != LifecycleStage::Active {
            return Err(ApiError::invalid(format!(
                "The run {source_id} is deleted: restore it before forking it"
            )));
        }
        let mut tags: Vec<Tag> = source
            .tags
            .iter()
            .filter(|t| inherited(t))
            .cloned()
            .collect();
        tags.push(Tag::new(FORKED_FROM_TAG, source_id));
        tags.push(Tag::new(FORK_STEP_TAG, step.to_string()));
        let request = CreateRun {
            experiment_id: Some(source.info.experiment_id.clone()),
            user_id: Some(source.info.user_id.clone()),
            run_name: run_name.or_else(|| Some(format!("{}-fork-{step}", source.info.run_name))),
            start_time: None,
            tags,
        };
        let target = RunExperiment::Id(source.info.experiment_id.clone());
        let new_id = new_run_id.unwrap_or_else(ids::new_run_id);
        let ensured = self.ensure_run(&new_id, target, request).await?;
        if !ensured.created {
            let forked_from = ensured
                .run
                .tags
                .iter()
                .find(|t| t.key == FORKED_FROM_TAG)
                .map(|t| t.value.as_str());
            if forked_from != Some(source_id) {
                return Err(ApiError::new(
                    ErrorCode::ResourceAlreadyExists,
                    format!("Run {new_id} exists already and is not a fork of {source_id}"),
                ));
            }
            return Ok(ensured);
        }
        for params in source.params.chunks(validation::MAX_PARAMS_TAGS_PER_BATCH) {
            self.store
                .log_batch(&new_id, Vec::new(), params.to_vec(), Vec::new())
                .await?;
        }
        if !source.dataset_inputs.is_empty() {
            self.store
                .log_inputs(&new_id, source.dataset_inputs.clone(), Vec::new())
                .await?;
        }
        for metric in &source.metrics {
            let read = self
                .store
                .points(source_id, &metric.key, None, Some(step))
                .await?;
            for (index, chunk) in read.points.chunks(FORK_CHUNK).enumerate() {
                let series = vec![SeriesPoints {
                    key: metric.key.clone(),
                    points: chunk.to_vec(),
                }];
                // Keyed, so a retried fork does not copy a chunk twice.
                let key = format!("fork:{source_id}:{step}:{}:{index}", metric.key);
                self.store.log_points(&new_id, series, Some(key)).await?;
            }
        }
        let run = self.get_run(&new_id).await?;
        Ok(EnsuredRun { run, created: true })
    }
}

fn is_digest(text: &str) -> bool {
    text.strip_prefix("blake3:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert!(is_digest(&format!("blake3:{}", "a".repeat(64))));
        assert!(!is_digest(&format!("blake3:{}", "a".repeat(63))));
        assert!(!is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest(&format!("blake3:{}", "g".repeat(64))));
    }
}
