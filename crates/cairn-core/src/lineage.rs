//! The lineage graph: what a run consumed and produced, and how runs, datasets, logged models,
//! registered model versions, stored files and code versions connect.
//!
//! Edges always point downstream (from what was there first to what was made from it):
//! `dataset → run` (the run consumed it), `run → logged model` (the run produced it),
//! `logged model → model version` (registered as), `run → run` (parent of, forked into,
//! reproduced as), `commit → run` (the code the run ran), `run → artifact` (the run stored the
//! file), `artifact → run` (the run used the file).
//!
//! Most edges are not stored as edges: they are read from what tracking already records
//! (inputs, outputs, tags, the artifact manifest, registry versions). Only what nothing else
//! shows — a run using a file or producing a dataset, a fork, a reproduction — is recorded
//! explicitly.

use std::fmt;

use crate::validation::ValidationError;

/// The tag that names a run's parent (MLflow's nested runs).
pub const PARENT_RUN_TAG: &str = "mlflow.parentRunId";
/// The tag that names the git commit a run's code was at.
pub const GIT_COMMIT_TAG: &str = "mlflow.source.git.commit";
/// The tag of a run forked from another run: the source run's id.
pub const FORKED_FROM_TAG: &str = "cairn.fork.from";
/// The tag of a forked run: the last step of the source run it continues from.
pub const FORK_STEP_TAG: &str = "cairn.fork.step";
/// The tag of a run made by `cairn reproduce`: the id of the run it reproduces.
pub const REPRODUCES_TAG: &str = "cairn.reproduces";

/// The run-to-run tags and the relation each implies (the tagged run is downstream).
pub const RUN_LINK_TAGS: [(&str, Relation); 3] = [
    (PARENT_RUN_TAG, Relation::ParentOf),
    (FORKED_FROM_TAG, Relation::ForkedInto),
    (REPRODUCES_TAG, Relation::ReproducedAs),
];

/// Most nodes one lineage query returns.
pub const MAX_LINEAGE_NODES: usize = 1000;
/// Deepest lineage query.
pub const MAX_LINEAGE_DEPTH: usize = 20;

/// The scheme of MLflow's artifact proxy, whose URIs name files in Cairn's own store.
pub const PROXY_SCHEME: &str = "mlflow-artifacts:";

/// The store path a proxied artifact URI names (`mlflow-artifacts:/1/abc/artifacts` →
/// `1/abc/artifacts`; `mlflow-artifacts:///x` and `mlflow-artifacts://host/x` name `x`), or
/// `None` for any other URI. The path is not checked further.
pub fn proxied_root(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix(PROXY_SCHEME)?;
    let rest = match rest.strip_prefix("//") {
        Some(with_authority) => with_authority
            .split_once('/')
            .map(|(_, path)| path)
            .unwrap_or(""),
        None => rest.trim_start_matches('/'),
    };
    Some(rest.trim_end_matches('/'))
}

/// What kind of thing a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    Run,
    /// `name@digest`: a dataset version, whatever experiment logged it.
    Dataset,
    /// A logged model, by model id.
    Model,
    /// A registered model version, `name/version`.
    ModelVersion,
    /// A stored file, by content digest.
    Artifact,
    /// A git commit, by hash.
    Commit,
}

impl NodeKind {
    pub const ALL: [NodeKind; 6] = [
        NodeKind::Run,
        NodeKind::Dataset,
        NodeKind::Model,
        NodeKind::ModelVersion,
        NodeKind::Artifact,
        NodeKind::Commit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Run => "run",
            NodeKind::Dataset => "dataset",
            NodeKind::Model => "model",
            NodeKind::ModelVersion => "model_version",
            NodeKind::Artifact => "artifact",
            NodeKind::Commit => "commit",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        NodeKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A node: its kind and its identity within the kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub kind: NodeKind,
    pub id: String,
}

impl Node {
    pub fn new(kind: NodeKind, id: impl Into<String>) -> Self {
        Node {
            kind,
            id: id.into(),
        }
    }

    pub fn run(id: impl Into<String>) -> Self {
        Node::new(NodeKind::Run, id)
    }

    /// The node of a dataset version.
    pub fn dataset(name: &str, digest: &str) -> Self {
        Node::new(NodeKind::Dataset, format!("{name}@{digest}"))
    }

    /// Parses `kind:id` (`run:0f3a…`, `dataset:train@1a2b`, `model_version:fraud/3`).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let (kind, id) = text.split_once(':').ok_or_else(|| {
            ValidationError::new(format!(
                "Invalid lineage node '{text}': expected <kind>:<id>, where kind is one of run, \
                 dataset, model, model_version, artifact, commit"
            ))
        })?;
        let kind = NodeKind::parse(kind).ok_or_else(|| {
            ValidationError::new(format!(
                "Invalid lineage node kind '{kind}': expected one of run, dataset, model, \
                 model_version, artifact, commit"
            ))
        })?;
        if id.is_empty() || id.len() > 1000 {
            return Err(ValidationError::new(format!(
                "Invalid lineage node '{text}': the id must be 1 to 1000 bytes"
            )));
        }
        let valid = match kind {
            NodeKind::Dataset => id
                .rsplit_once('@')
                .is_some_and(|(n, d)| !n.is_empty() && !d.is_empty()),
            NodeKind::ModelVersion => id
                .rsplit_once('/')
                .is_some_and(|(n, v)| !n.is_empty() && v.parse::<i64>().is_ok()),
            _ => true,
        };
        if !valid {
            return Err(ValidationError::new(format!(
                "Invalid lineage node '{text}': a dataset is name@digest, a model version name/version"
            )));
        }
        Ok(Node::new(kind, id))
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

/// How the upstream end relates to the downstream end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Relation {
    /// A dataset, model or file the downstream run consumed.
    Input,
    /// A model, dataset or file the upstream run produced.
    Output,
    /// A logged model (or run) registered as a model version.
    RegisteredAs,
    /// A parent run of a nested run.
    ParentOf,
    /// A run continued in a new run from one of its steps.
    ForkedInto,
    /// A run re-executed from its recorded environment.
    ReproducedAs,
    /// The commit a run's code was at.
    CodeOf,
}

impl Relation {
    pub const ALL: [Relation; 7] = [
        Relation::Input,
        Relation::Output,
        Relation::RegisteredAs,
        Relation::ParentOf,
        Relation::ForkedInto,
        Relation::ReproducedAs,
        Relation::CodeOf,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Input => "input",
            Relation::Output => "output",
            Relation::RegisteredAs => "registered_as",
            Relation::ParentOf => "parent_of",
            Relation::ForkedInto => "forked_into",
            Relation::ReproducedAs => "reproduced_as",
            Relation::CodeOf => "code_of",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Relation::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// An edge, pointing downstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edge {
    pub from: Node,
    pub to: Node,
    pub relation: Relation,
}

impl Edge {
    pub fn new(from: Node, relation: Relation, to: Node) -> Self {
        Edge { from, to, relation }
    }
}

/// What a node is called, for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub node: Node,
    /// A run's name, a model's name, a file's path, a dataset's name…
    pub label: String,
    /// The experiment a run, dataset or logged model belongs to.
    pub experiment_id: Option<String>,
}

/// Which way a lineage query walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Upstream,
    Downstream,
    #[default]
    Both,
}

impl Direction {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            "both" => Some(Direction::Both),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_parse_and_print() {
        for text in [
            "run:0f3a",
            "dataset:train@1a2b",
            "dataset:a@b@c",
            "model:m-1",
            "model_version:fraud/3",
            "artifact:blake3:00ff",
            "commit:abc123",
        ] {
            assert_eq!(Node::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Node::dataset("a@b", "c").to_string(), "dataset:a@b@c");
        for bad in [
            "run",
            "vm:x",
            "run:",
            "dataset:nodigest",
            "model_version:fraud/x",
            "dataset:@d",
        ] {
            assert!(Node::parse(bad).is_err(), "{bad}");
        }
        assert!(Node::parse(&format!("run:{}", "x".repeat(1001))).is_err());
    }

    #[test]
    fn proxied_roots() {
        assert_eq!(
            proxied_root("mlflow-artifacts:/1/abc/artifacts/"),
            Some("1/abc/artifacts")
        );
        assert_eq!(proxied_root("mlflow-artifacts:///1/x"), Some("1/x"));
        assert_eq!(
            proxied_root("mlflow-artifacts://host:5000/1/x"),
            Some("1/x")
        );
        assert_eq!(proxied_root("mlflow-artifacts://host"), Some(""));
        assert_eq!(proxied_root("s3://bucket/1/x"), None);
    }

    #[test]
    fn relations_and_directions() {
        for relation in Relation::ALL {
            assert_eq!(Relation::parse(relation.as_str()), Some(relation));
        }
        assert_eq!(Direction::parse("upstream"), Some(Direction::Upstream));
        assert_eq!(Direction::parse("sideways"), None);
    }
}
