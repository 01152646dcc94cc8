//! The lineage graph on SQLite (migration 6: the recorded-edges table and the reverse indexes
//! the derived edges need).
//!
//! Derived edges are read with indexed lookups per node: a run's dataset and model inputs, its
//! parent, fork-source, reproduced-run and commit tags, the models it produced and the runs tagged with its id (by the
//! `tags_key_value` index), its files (a primary-key range of the artifact manifest below its artifact root), the
//! runs that stored a file (by the `artifacts_digest` index), the versions that register a
//! model or a run. Nothing scans a whole table.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use cairn_core::lineage::{
    Direction, Edge, GIT_COMMIT_TAG, Node, NodeInfo, NodeKind, RUN_LINK_TAGS, Relation,
    proxied_root,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::sql::{self, IN_CHUNK};
use crate::{LineageStore, Result, StoreError};

pub const TABLES: &str = r#"
    CREATE TABLE lineage_edges (
        from_kind TEXT NOT NULL,
        from_id   TEXT NOT NULL,
        relation  TEXT NOT NULL,
        to_kind   TEXT NOT NULL,
        to_id     TEXT NOT NULL,
        created   INTEGER NOT NULL,
        PRIMARY KEY (from_kind, from_id, relation, to_kind, to_id)
    ) WITHOUT ROWID;
    CREATE INDEX lineage_edges_to ON lineage_edges (to_kind, to_id);

    CREATE INDEX datasets_name_digest ON datasets (name, digest);
    CREATE INDEX dataset_inputs_dataset ON dataset_inputs (dataset_id);
    CREATE INDEX model_inputs_model ON model_inputs (model_id);
    CREATE INDEX model_outputs_model ON model_outputs (model_id);
    CREATE INDEX logged_models_source_run ON logged_models (source_run_id)
        WHERE source_run_id IS NOT NULL;
"#;

/// Which end of an edge a query starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Edges ending at the node (what it came from).
    Upstream,
    /// Edges starting at the node (what came from it).
    Downstream,
}

/// Collects the edges of one node in one direction.
pub(crate) struct Found<'a> {
    pub(crate) node: &'a Node,
    pub(crate) end: End,
    pub(crate) edges: Vec<Edge>,
}

impl Found<'_> {
    /// Adds an edge between this node and `other`, oriented by the direction.
    pub(crate) fn link(&mut self, other: Node, relation: Relation) {
        let edge = match self.end {
            End::Upstream => Edge::new(other, relation, self.node.clone()),
            End::Downstream => Edge::new(self.node.clone(), relation, other),
        };
        self.edges.push(edge);
    }
}

fn strings(conn: &Connection, query: &str, params: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut statement = conn.prepare_cached(query)?;
    let rows = statement.query_map(params, |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn pairs(
    conn: &Connection,
    query: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(String, String)>> {
    let mut statement = conn.prepare_cached(query)?;
    let rows = statement.query_map(params, |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Recorded edges at one end of a node.
fn recorded(conn: &Connection, found: &mut Found<'_>, limit: usize) -> Result<()> {
    let query = match found.end {
        End::Upstream => {
            "SELECT from_kind, from_id, relation FROM lineage_edges
             WHERE to_kind = ?1 AND to_id = ?2 ORDER BY from_kind, from_id LIMIT ?3"
        }
        End::Downstream => {
            "SELECT to_kind, to_id, relation FROM lineage_edges
             WHERE from_kind = ?1 AND from_id = ?2 ORDER BY to_kind, to_id LIMIT ?3"
        }
    };
    let mut statement = conn.prepare_cached(query)?;
    let mut rows = statement.query(params![
        found.node.kind.as_str(),
        found.node.id,
        limit as i64
    ])?;
    while let Some(row) = rows.next()? {
        let (kind, id, relation): (String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?);
        let (Some(kind), Some(relation)) = (NodeKind::parse(&kind), Relation::parse(&relation))
        else {
            return Err(StoreError::Internal(format!(
                "unknown lineage edge {kind:?}/{relation:?} in database"
            )));
        };
        found.link(Node::new(kind, id), relation);
    }
    Ok(())
}

/// The run or logged model whose artifact folder holds `path` (`<exp>/<run>/artifacts/…`,
/// `<exp>/models/<model>/artifacts/…`), when it exists.
fn owner_of_path(conn: &Connection, path: &str) -> Result<Option<Node>> {
    let parts: Vec<&str> = path.splitn(5, '/').collect();
    let candidate = match parts.as_slice() {
        [_, "models", model, "artifacts", _] => Node::new(NodeKind::Model, *model),
        [_, run, "artifacts", ..] => Node::run(*run),
        _ => return Ok(None),
    };
    let exists = match candidate.kind {
        NodeKind::Run => conn
            .prepare_cached("SELECT 1 FROM runs WHERE run_uuid = ?1")?
            .exists(params![candidate.id])?,
        _ => conn
            .prepare_cached("SELECT 1 FROM logged_models WHERE model_id = ?1")?
            .exists(params![candidate.id])?,
    };
    Ok(exists.then_some(candidate))
}

/// Links the distinct files below an artifact location (a run's or a logged model's) as its
/// outputs; a location outside Cairn's own store has none.
fn link_files(
    conn: &Connection,
    found: &mut Found<'_>,
    location: Option<String>,
    limit: usize,
) -> Result<()> {
    let Some(root) = location
        .as_deref()
        .and_then(proxied_root)
        .filter(|r| !r.is_empty())
    else {
        return Ok(());
    };
    for digest in strings(
        conn,
        "SELECT DISTINCT digest FROM artifacts WHERE path > ?1 AND path < ?2 ORDER BY digest LIMIT ?3",
        params![format!("{root}/"), format!("{root}0"), limit as i64],
    )? {
        found.link(Node::new(NodeKind::Artifact, digest), Relation::Output);
    }
    Ok(())
}

/// Links the registered versions a query answers as `(name, version)` pairs.
fn link_versions(
    conn: &Connection,
    found: &mut Found<'_>,
    query: &str,
    id: &str,
    limit: usize,
) -> Result<()> {
    for (name, version) in pairs(conn, query, params![id, limit as i64])? {
        found.link(
            Node::new(NodeKind::ModelVersion, format!("{name}/{version}")),
            Relation::RegisteredAs,
        );
    }
    Ok(())
}

fn run_edges(conn: &Connection, found: &mut Found<'_>, limit: usize) -> Result<()> {
    let id = found.node.id.clone();
    let limit_sql = limit as i64;
    match found.end {
        End::Upstream => {
            for (name, digest) in pairs(
                conn,
                "SELECT d.name, d.digest FROM dataset_inputs di JOIN datasets d ON d.id = di.dataset_id
                 JOIN runs r ON r.id = di.run_id WHERE r.run_uuid = ?1 ORDER BY d.name, d.digest LIMIT ?2",
                params![id, limit_sql],
            )? {
                found.link(Node::dataset(&name, &digest), Relation::Input);
            }
            for model in strings(
                conn,
                "SELECT mi.model_id FROM model_inputs mi JOIN runs r ON r.id = mi.run_id
                 WHERE r.run_uuid = ?1 ORDER BY mi.model_id LIMIT ?2",
                params![id, limit_sql],
            )? {
                found.link(Node::new(NodeKind::Model, model), Relation::Input);
            }
            for (key, value) in pairs(
                conn,
                "SELECT t.key, t.value FROM tags t JOIN runs r ON r.id = t.run_id
                 WHERE r.run_uuid = ?1 AND t.key IN (?2, ?3, ?4, ?5)",
                params![
                    id,
                    GIT_COMMIT_TAG,
                    RUN_LINK_TAGS[0].0,
                    RUN_LINK_TAGS[1].0,
                    RUN_LINK_TAGS[2].0
                ],
            )? {
                if value.is_empty() {
                    continue;
                }
                if key == GIT_COMMIT_TAG {
                    found.link(Node::new(NodeKind::Commit, value), Relation::CodeOf);
                } else if let Some((_, relation)) =
                    RUN_LINK_TAGS.iter().find(|(tag, _)| *tag == key)
                {
                    found.link(Node::run(value), *relation);
                }
            }
        }
        End::Downstream => {
            for model in strings(
                conn,
                "SELECT model_id FROM logged_models WHERE source_run_id = ?1
                 UNION SELECT mo.model_id FROM model_outputs mo JOIN runs r ON r.id = mo.run_id
                 WHERE r.run_uuid = ?1 ORDER BY 1 LIMIT ?2",
                params![id, limit_sql],
            )? {
                found.link(Node::new(NodeKind::Model, model), Relation::Output);
            }
            for (tag, relation) in RUN_LINK_TAGS {
                for child in strings(
                    conn,
                    "SELECT r.run_uuid FROM tags t JOIN runs r ON r.id = t.run_id
                     WHERE t.key = ?1 AND t.value = ?2 ORDER BY r.run_uuid LIMIT ?3",
                    params![tag, id, limit_sql],
                )? {
                    found.link(Node::run(child), relation);
                }
            }
            link_versions(
                conn,
                found,
                "SELECT m.name, CAST(v.version AS TEXT) FROM model_versions v
                 JOIN registered_models m ON m.id = v.registered_model
                 WHERE v.run_id = ?1 AND v.model_id IS NULL ORDER BY m.name, v.version LIMIT ?2",
                &id,
                limit,
            )?;
            let uri: Option<String> = conn
                .prepare_cached("SELECT artifact_uri FROM runs WHERE run_uuid = ?1")?
                .query_row(params![id], |row| row.get(0))
                .optional()?;
            link_files(conn, found, uri, limit)?;
        }
    }
    Ok(())
}

fn derived_edges(conn: &Connection, found: &mut Found<'_>, limit: usize) -> Result<()> {
    let id = found.node.id.clone();
    let limit_sql = limit as i64;
    match (found.node.kind, found.end) {
        (NodeKind::Run, _) => run_edges(conn, found, limit)?,
        (NodeKind::Dataset, End::Downstream) => {
            if let Some((name, digest)) = id.rsplit_once('@') {
                for run in strings(
                    conn,
                    "SELECT DISTINCT r.run_uuid FROM datasets d JOIN dataset_inputs di ON di.dataset_id = d.id
                     JOIN runs r ON r.id = di.run_id WHERE d.name = ?1 AND d.digest = ?2
                     ORDER BY r.run_uuid LIMIT ?3",
                    params![name, digest, limit_sql],
                )? {
                    found.link(Node::run(run), Relation::Input);
                }
            }
        }
        (NodeKind::Model, End::Upstream) => {
            for run in strings(
                conn,
                "SELECT source_run_id FROM logged_models WHERE model_id = ?1 AND source_run_id IS NOT NULL
                 UNION SELECT r.run_uuid FROM model_outputs mo JOIN runs r ON r.id = mo.run_id
                 WHERE mo.model_id = ?1 ORDER BY 1 LIMIT ?2",
                params![id, limit_sql],
            )? {
                found.link(Node::run(run), Relation::Output);
            }
        }
        (NodeKind::Model, End::Downstream) => {
            for run in strings(
                conn,
                "SELECT r.run_uuid FROM model_inputs mi JOIN runs r ON r.id = mi.run_id
                 WHERE mi.model_id = ?1 ORDER BY r.run_uuid LIMIT ?2",
                params![id, limit_sql],
            )? {
                found.link(Node::run(run), Relation::Input);
            }
            link_versions(
                conn,
                found,
                "SELECT m.name, CAST(v.version AS TEXT) FROM model_versions v
                 JOIN registered_models m ON m.id = v.registered_model
                 WHERE v.model_id = ?1 ORDER BY m.name, v.version LIMIT ?2",
                &id,
                limit,
            )?;
            let location: Option<String> = conn
                .prepare_cached("SELECT artifact_location FROM logged_models WHERE model_id = ?1")?
                .query_row(params![id], |row| row.get(0))
                .optional()?;
            link_files(conn, found, location, limit)?;
        }
        (NodeKind::ModelVersion, End::Upstream) => {
            if let Some((name, version)) = id.rsplit_once('/')
                && let Ok(version) = version.parse::<i64>()
            {
                let row: Option<(Option<String>, Option<String>)> = conn
                    .prepare_cached(
                        "SELECT v.model_id, v.run_id FROM model_versions v
                         JOIN registered_models m ON m.id = v.registered_model
                         WHERE m.name = ?1 AND v.version = ?2",
                    )?
                    .query_row(params![name, version], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                match row {
                    Some((Some(model), _)) => {
                        found.link(Node::new(NodeKind::Model, model), Relation::RegisteredAs)
                    }
                    Some((None, Some(run))) => found.link(Node::run(run), Relation::RegisteredAs),
                    _ => {}
                }
            }
        }
        (NodeKind::Artifact, End::Upstream) => {
            let paths = strings(
                conn,
                "SELECT path FROM artifacts WHERE digest = ?1 ORDER BY path LIMIT ?2",
                params![id, limit_sql],
            )?;
            let mut owners = BTreeSet::new();
            for path in paths {
                if let Some(owner) = owner_of_path(conn, &path)? {
                    owners.insert(owner);
                }
            }
            for owner in owners {
                found.link(owner, Relation::Output);
            }
        }
        (NodeKind::Commit, End::Downstream) => {
            for run in strings(
                conn,
                "SELECT r.run_uuid FROM tags t JOIN runs r ON r.id = t.run_id
                 WHERE t.key = ?1 AND t.value = ?2 ORDER BY r.run_uuid LIMIT ?3",
                params![GIT_COMMIT_TAG, id, limit_sql],
            )? {
                found.link(Node::run(run), Relation::CodeOf);
            }
        }
        _ => {}
    }
    Ok(())
}

pub fn edges(
    conn: &Connection,
    nodes: &[Node],
    direction: Direction,
    limit: usize,
) -> Result<Vec<Edge>> {
    let ends: &[End] = match direction {
        Direction::Upstream => &[End::Upstream],
        Direction::Downstream => &[End::Downstream],
        Direction::Both => &[End::Upstream, End::Downstream],
    };
    let mut all = BTreeSet::new();
    for node in nodes {
        for end in ends {
            let mut found = Found {
                node,
                end: *end,
                edges: Vec::new(),
            };
            derived_edges(conn, &mut found, limit)?;
            recorded(conn, &mut found, limit)?;
            all.extend(found.edges);
        }
    }
    Ok(all.into_iter().collect())
}

pub fn record(conn: &Connection, edges: &[Edge], now: i64) -> Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO lineage_edges (from_kind, from_id, relation, to_kind, to_id, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?;
    for edge in edges {
        statement.execute(params![
            edge.from.kind.as_str(),
            edge.from.id,
            edge.relation.as_str(),
            edge.to.kind.as_str(),
            edge.to.id,
            now
        ])?;
    }
    Ok(())
}

/// Labels for each kind, looked up set-wise.
pub fn describe(conn: &Connection, nodes: &[Node]) -> Result<Vec<NodeInfo>> {
    let mut known: HashMap<Node, (String, Option<String>)> = HashMap::new();
    let ids_of = |kind: NodeKind| -> Vec<String> {
        nodes
            .iter()
            .filter(|node| node.kind == kind)
            .map(|node| node.id.clone())
            .collect()
    };
    let runs = ids_of(NodeKind::Run);
    for chunk in runs.chunks(IN_CHUNK) {
        let mut statement = conn.prepare_cached(&format!(
            "SELECT run_uuid, name, experiment_id FROM runs WHERE run_uuid IN {}",
            sql::placeholders(chunk.len())
        ))?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            let experiment: i64 = row.get(2)?;
            known.insert(
                Node::run(row.get::<_, String>(0)?),
                (row.get(1)?, Some(experiment.to_string())),
            );
        }
    }
    let models = ids_of(NodeKind::Model);
    for chunk in models.chunks(IN_CHUNK) {
        let mut statement = conn.prepare_cached(&format!(
            "SELECT model_id, name, experiment_id FROM logged_models WHERE model_id IN {}",
            sql::placeholders(chunk.len())
        ))?;
        let mut rows = statement.query(rusqlite::params_from_iter(chunk))?;
        while let Some(row) = rows.next()? {
            let experiment: i64 = row.get(2)?;
            known.insert(
                Node::new(NodeKind::Model, row.get::<_, String>(0)?),
                (row.get(1)?, Some(experiment.to_string())),
            );
        }
    }
    for digest in ids_of(NodeKind::Artifact) {
        let path: Option<String> = conn
            .prepare_cached(
                "SELECT path FROM artifacts WHERE digest = ?1 ORDER BY length(path), path LIMIT 1",
            )?
            .query_row(params![digest], |row| row.get(0))
            .optional()?;
        if let Some(path) = path {
            let label = artifact_label(&path);
            known.insert(Node::new(NodeKind::Artifact, digest), (label, None));
        }
    }
    Ok(node_infos(nodes, known))
}

/// The file name a stored artifact is shown by: its path below the owner's `artifacts/` folder.
pub(crate) fn artifact_label(path: &str) -> String {
    path.split_once("/artifacts/")
        .map_or(path, |(_, below)| below)
        .to_string()
}

/// Each node described, in order: from what the store found (`known`), else a label made from the
/// node's id alone (a dataset's name, `model vN`, a short commit).
pub(crate) fn node_infos(
    nodes: &[Node],
    mut known: HashMap<Node, (String, Option<String>)>,
) -> Vec<NodeInfo> {
    nodes
        .iter()
        .map(|node| {
            let (label, experiment_id) = known.remove(node).unwrap_or_else(|| {
                let label = match node.kind {
                    NodeKind::Dataset => node
                        .id
                        .rsplit_once('@')
                        .map_or(node.id.clone(), |(name, _)| name.to_string()),
                    NodeKind::ModelVersion => node
                        .id
                        .rsplit_once('/')
                        .map_or(node.id.clone(), |(name, version)| {
                            format!("{name} v{version}")
                        }),
                    NodeKind::Commit => node.id.chars().take(12).collect(),
                    _ => node.id.clone(),
                };
                (label, None)
            });
            NodeInfo {
                node: node.clone(),
                label,
                experiment_id,
            }
        })
        .collect()
}

#[async_trait]
impl LineageStore for SqliteStore {
    async fn record_lineage(&self, edges: Vec<Edge>, now: i64) -> Result<()> {
        self.write(move |conn| record(conn, &edges, now)).await
    }

    async fn lineage_edges(
        &self,
        nodes: Vec<Node>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<Edge>> {
        self.read(move |conn| edges(conn, &nodes, direction, limit))
            .await
    }

    async fn describe_nodes(&self, nodes: Vec<Node>) -> Result<Vec<NodeInfo>> {
        self.read(move |conn| describe(conn, &nodes)).await
    }
}
