//! The lineage graph on PostgreSQL: the same indexed lookups per node as the embedded store's
//! (its module doc lists them), in PostgreSQL's syntax.
//!
//! Differences from SQLite: `$n` placeholders; the tag keys and the runs, models labelled are
//! bound as arrays (`= ANY($n)`) instead of `IN` lists. Recording is one `ON CONFLICT DO NOTHING`
//! insert per edge, so concurrent recorders of the same edge never conflict. The tables and
//! indexes are in [`super::schema`]; the walk's bookkeeping (`End`, `Found`) is the embedded
//! store's.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use cairn_core::lineage::{
    Direction, Edge, GIT_COMMIT_TAG, Node, NodeInfo, NodeKind, RUN_LINK_TAGS, Relation,
    proxied_root,
};
use postgres::Transaction;
use postgres::types::ToSql;

use super::PgStore;
use crate::sqlite::lineage::{End, Found, artifact_label, node_infos};
use crate::{LineageStore, Result, StoreError};

/// A per-node limit as bound: SQLite reads a `usize::MAX` limit (`-1`) as none, PostgreSQL
/// refuses a negative one, so a limit past `i64::MAX` is clamped.
fn bound_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn strings(
    tx: &mut Transaction<'_>,
    query: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<String>> {
    Ok(tx
        .query(query, params)?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

fn pairs(
    tx: &mut Transaction<'_>,
    query: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<(String, String)>> {
    Ok(tx
        .query(query, params)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Recorded edges at one end of a node.
fn recorded(tx: &mut Transaction<'_>, found: &mut Found<'_>, limit: usize) -> Result<()> {
    let query = match found.end {
        End::Upstream => {
            "SELECT from_kind, from_id, relation FROM lineage_edges
             WHERE to_kind = $1 AND to_id = $2 ORDER BY from_kind, from_id LIMIT $3"
        }
        End::Downstream => {
            "SELECT to_kind, to_id, relation FROM lineage_edges
             WHERE from_kind = $1 AND from_id = $2 ORDER BY to_kind, to_id LIMIT $3"
        }
    };
    let rows = tx.query(
        query,
        &[
            &found.node.kind.as_str(),
            &found.node.id,
            &bound_limit(limit),
        ],
    )?;
    for row in rows {
        let (kind, id, relation): (String, String, String) = (row.get(0), row.get(1), row.get(2));
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
fn owner_of_path(tx: &mut Transaction<'_>, path: &str) -> Result<Option<Node>> {
    let parts: Vec<&str> = path.splitn(5, '/').collect();
    let candidate = match parts.as_slice() {
        [_, "models", model, "artifacts", _] => Node::new(NodeKind::Model, *model),
        [_, run, "artifacts", ..] => Node::run(*run),
        _ => return Ok(None),
    };
    let query = match candidate.kind {
        NodeKind::Run => "SELECT 1 FROM runs WHERE run_uuid = $1",
        _ => "SELECT 1 FROM logged_models WHERE model_id = $1",
    };
    let exists = tx.query_opt(query, &[&candidate.id])?.is_some();
    Ok(exists.then_some(candidate))
}

/// Links the distinct files below an artifact location (a run's or a logged model's) as its
/// outputs; a location outside Cairn's own store has none.
fn link_files(
    tx: &mut Transaction<'_>,
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
        tx,
        "SELECT DISTINCT digest FROM artifacts WHERE path > $1 AND path < $2 ORDER BY digest LIMIT $3",
        &[
            &format!("{root}/"),
            &format!("{root}0"),
            &bound_limit(limit),
        ],
    )? {
        found.link(Node::new(NodeKind::Artifact, digest), Relation::Output);
    }
    Ok(())
}

/// Links the registered versions a query answers as `(name, version)` pairs.
fn link_versions(
    tx: &mut Transaction<'_>,
    found: &mut Found<'_>,
    query: &str,
    id: &str,
    limit: usize,
) -> Result<()> {
    for (name, version) in pairs(tx, query, &[&id, &bound_limit(limit)])? {
        found.link(
            Node::new(NodeKind::ModelVersion, format!("{name}/{version}")),
            Relation::RegisteredAs,
        );
    }
    Ok(())
}

fn run_edges(tx: &mut Transaction<'_>, found: &mut Found<'_>, limit: usize) -> Result<()> {
    let id = found.node.id.clone();
    let limit_sql = bound_limit(limit);
    match found.end {
        End::Upstream => {
            for (name, digest) in pairs(
                tx,
                "SELECT d.name, d.digest FROM dataset_inputs di JOIN datasets d ON d.id = di.dataset_id
                 JOIN runs r ON r.id = di.run_id WHERE r.run_uuid = $1 ORDER BY d.name, d.digest LIMIT $2",
                &[&id, &limit_sql],
            )? {
                found.link(Node::dataset(&name, &digest), Relation::Input);
            }
            for model in strings(
                tx,
                "SELECT mi.model_id FROM model_inputs mi JOIN runs r ON r.id = mi.run_id
                 WHERE r.run_uuid = $1 ORDER BY mi.model_id LIMIT $2",
                &[&id, &limit_sql],
            )? {
                found.link(Node::new(NodeKind::Model, model), Relation::Input);
            }
            let keys: Vec<String> = std::iter::once(GIT_COMMIT_TAG)
                .chain(RUN_LINK_TAGS.iter().map(|(tag, _)| *tag))
                .map(str::to_string)
                .collect();
            for (key, value) in pairs(
                tx,
                "SELECT t.key, t.value FROM tags t JOIN runs r ON r.id = t.run_id
                 WHERE r.run_uuid = $1 AND t.key = ANY($2)",
                &[&id, &keys],
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
                tx,
                "SELECT model_id FROM logged_models WHERE source_run_id = $1
                 UNION SELECT mo.model_id FROM model_outputs mo JOIN runs r ON r.id = mo.run_id
                 WHERE r.run_uuid = $1 ORDER BY 1 LIMIT $2",
                &[&id, &limit_sql],
            )? {
                found.link(Node::new(NodeKind::Model, model), Relation::Output);
            }
            for (tag, relation) in RUN_LINK_TAGS {
                for child in strings(
                    tx,
                    "SELECT r.run_uuid FROM tags t JOIN runs r ON r.id = t.run_id
                     WHERE t.key = $1 AND t.value = $2 ORDER BY r.run_uuid LIMIT $3",
                    &[&tag, &id, &limit_sql],
                )? {
                    found.link(Node::run(child), relation);
                }
            }
            link_versions(
                tx,
                found,
                "SELECT m.name, CAST(v.version AS TEXT) FROM model_versions v
                 JOIN registered_models m ON m.id = v.registered_model
                 WHERE v.run_id = $1 AND v.model_id IS NULL ORDER BY m.name, v.version LIMIT $2",
                &id,
                limit,
            )?;
            let uri: Option<String> = tx
                .query_opt("SELECT artifact_uri FROM runs WHERE run_uuid = $1", &[&id])?
                .map(|row| row.get(0));
            link_files(tx, found, uri, limit)?;
        }
    }
    Ok(())
}

fn derived_edges(tx: &mut Transaction<'_>, found: &mut Found<'_>, limit: usize) -> Result<()> {
    let id = found.node.id.clone();
    let limit_sql = bound_limit(limit);
    match (found.node.kind, found.end) {
        (NodeKind::Run, _) => run_edges(tx, found, limit)?,
        (NodeKind::Dataset, End::Downstream) => {
            if let Some((name, digest)) = id.rsplit_once('@') {
                for run in strings(
                    tx,
                    "SELECT DISTINCT r.run_uuid FROM datasets d JOIN dataset_inputs di ON di.dataset_id = d.id
                     JOIN runs r ON r.id = di.run_id WHERE d.name = $1 AND d.digest = $2
                     ORDER BY r.run_uuid LIMIT $3",
                    &[&name, &digest, &limit_sql],
                )? {
                    found.link(Node::run(run), Relation::Input);
                }
            }
        }
        (NodeKind::Model, End::Upstream) => {
            for run in strings(
                tx,
                "SELECT source_run_id FROM logged_models WHERE model_id = $1 AND source_run_id IS NOT NULL
                 UNION SELECT r.run_uuid FROM model_outputs mo JOIN runs r ON r.id = mo.run_id
                 WHERE mo.model_id = $1 ORDER BY 1 LIMIT $2",
                &[&id, &limit_sql],
            )? {
                found.link(Node::run(run), Relation::Output);
            }
        }
        (NodeKind::Model, End::Downstream) => {
            for run in strings(
                tx,
                "SELECT r.run_uuid FROM model_inputs mi JOIN runs r ON r.id = mi.run_id
                 WHERE mi.model_id = $1 ORDER BY r.run_uuid LIMIT $2",
                &[&id, &limit_sql],
            )? {
                found.link(Node::run(run), Relation::Input);
            }
            link_versions(
                tx,
                found,
                "SELECT m.name, CAST(v.version AS TEXT) FROM model_versions v
                 JOIN registered_models m ON m.id = v.registered_model
                 WHERE v.model_id = $1 ORDER BY m.name, v.version LIMIT $2",
                &id,
                limit,
            )?;
            let location: Option<String> = tx
                .query_opt(
                    "SELECT artifact_location FROM logged_models WHERE model_id = $1",
                    &[&id],
                )?
                .map(|row| row.get(0));
            link_files(tx, found, location, limit)?;
        }
        (NodeKind::ModelVersion, End::Upstream) => {
            if let Some((name, version)) = id.rsplit_once('/')
                && let Ok(version) = version.parse::<i64>()
            {
                let row: Option<(Option<String>, Option<String>)> = tx
                    .query_opt(
                        "SELECT v.model_id, v.run_id FROM model_versions v
                         JOIN registered_models m ON m.id = v.registered_model
                         WHERE m.name = $1 AND v.version = $2",
                        &[&name, &version],
                    )?
                    .map(|row| (row.get(0), row.get(1)));
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
                tx,
                "SELECT path FROM artifacts WHERE digest = $1 ORDER BY path LIMIT $2",
                &[&id, &limit_sql],
            )?;
            let mut owners = BTreeSet::new();
            for path in paths {
                if let Some(owner) = owner_of_path(tx, &path)? {
                    owners.insert(owner);
                }
            }
            for owner in owners {
                found.link(owner, Relation::Output);
            }
        }
        (NodeKind::Commit, End::Downstream) => {
            for run in strings(
                tx,
                "SELECT r.run_uuid FROM tags t JOIN runs r ON r.id = t.run_id
                 WHERE t.key = $1 AND t.value = $2 ORDER BY r.run_uuid LIMIT $3",
                &[&GIT_COMMIT_TAG, &id, &limit_sql],
            )? {
                found.link(Node::run(run), Relation::CodeOf);
            }
        }
        _ => {}
    }
    Ok(())
}

pub fn edges(
    tx: &mut Transaction<'_>,
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
            derived_edges(tx, &mut found, limit)?;
            recorded(tx, &mut found, limit)?;
            all.extend(found.edges);
        }
    }
    Ok(all.into_iter().collect())
}

pub fn record(tx: &mut Transaction<'_>, edges: &[Edge], now: i64) -> Result<()> {
    let statement = tx.prepare(
        "INSERT INTO lineage_edges (from_kind, from_id, relation, to_kind, to_id, created)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )?;
    for edge in edges {
        tx.execute(
            &statement,
            &[
                &edge.from.kind.as_str(),
                &edge.from.id,
                &edge.relation.as_str(),
                &edge.to.kind.as_str(),
                &edge.to.id,
                &now,
            ],
        )?;
    }
    Ok(())
}

/// Labels for each kind, looked up set-wise.
pub fn describe(tx: &mut Transaction<'_>, nodes: &[Node]) -> Result<Vec<NodeInfo>> {
    let mut known: HashMap<Node, (String, Option<String>)> = HashMap::new();
    let ids_of = |kind: NodeKind| -> Vec<String> {
        nodes
            .iter()
            .filter(|node| node.kind == kind)
            .map(|node| node.id.clone())
            .collect()
    };
    let runs = ids_of(NodeKind::Run);
    if !runs.is_empty() {
        for row in tx.query(
            "SELECT run_uuid, name, experiment_id FROM runs WHERE run_uuid = ANY($1)",
            &[&runs],
        )? {
            let experiment: i64 = row.get(2);
            known.insert(
                Node::run(row.get::<_, String>(0)),
                (row.get(1), Some(experiment.to_string())),
            );
        }
    }
    let models = ids_of(NodeKind::Model);
    if !models.is_empty() {
        for row in tx.query(
            "SELECT model_id, name, experiment_id FROM logged_models WHERE model_id = ANY($1)",
            &[&models],
        )? {
            let experiment: i64 = row.get(2);
            known.insert(
                Node::new(NodeKind::Model, row.get::<_, String>(0)),
                (row.get(1), Some(experiment.to_string())),
            );
        }
    }
    for digest in ids_of(NodeKind::Artifact) {
        let path: Option<String> = tx
            .query_opt(
                "SELECT path FROM artifacts WHERE digest = $1 ORDER BY length(path), path LIMIT 1",
                &[&digest],
            )?
            .map(|row| row.get(0));
        if let Some(path) = path {
            let label = artifact_label(&path);
            known.insert(Node::new(NodeKind::Artifact, digest), (label, None));
        }
    }
    Ok(node_infos(nodes, known))
}

#[async_trait]
impl LineageStore for PgStore {
    async fn record_lineage(&self, edges: Vec<Edge>, now: i64) -> Result<()> {
        self.write(move |tx| record(tx, &edges, now)).await
    }

    async fn lineage_edges(
        &self,
        nodes: Vec<Node>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<Edge>> {
        self.read(move |tx| edges(tx, &nodes, direction, limit))
            .await
    }

    async fn describe_nodes(&self, nodes: Vec<Node>) -> Result<Vec<NodeInfo>> {
        self.read(move |tx| describe(tx, &nodes)).await
    }
}
