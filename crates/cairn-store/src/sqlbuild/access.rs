//! The readable-by-a-viewer conditions that experiment and registry searches add for a
//! signed-in caller: `cairn_core::access::permission` at least `Read`, as set operations over
//! the access tables (`experiment_access` with `experiment_shares`, `registered_model_access`).

use cairn_core::access::{Role, Viewer};

use super::Dialect;

/// The SQL condition (on `e.experiment_id`) that holds for the experiments `viewer` may read;
/// `None` for an administrator, who reads everything.
pub fn readable_condition(viewer: &Viewer, binds: &mut impl Dialect) -> Option<String> {
    readable_sql(
        viewer,
        binds,
        ("experiment_access", "experiment_id", "e.experiment_id"),
        Some("experiment_shares"),
    )
}

/// The same for registered models (on `r.id`), which have no shares.
pub fn readable_model_condition(viewer: &Viewer, binds: &mut impl Dialect) -> Option<String> {
    readable_sql(
        viewer,
        binds,
        ("registered_model_access", "registered_model", "r.id"),
        None,
    )
}

/// `permission >= Read` over an access table `(table, key column, outer key)` and, for
/// experiments, its shares table (keyed by the same column).
fn readable_sql(
    viewer: &Viewer,
    binds: &mut impl Dialect,
    (table, key, outer): (&str, &str, &str),
    shares: Option<&str>,
) -> Option<String> {
    if viewer.is_admin {
        return None;
    }
    let mut teams_with = |least: Role| {
        let teams: Vec<i64> = viewer
            .teams
            .iter()
            .filter(|(_, role)| **role >= least)
            .map(|(team, _)| *team)
            .collect();
        binds.int_set(teams)
    };
    let all = teams_with(Role::Viewer);
    let managing = teams_with(Role::Admin);
    let writing = teams_with(Role::Member);
    let user = binds.bind_int(viewer.user_id);
    let shared = match shares {
        Some(shares) => format!(
            "OR EXISTS (SELECT 1 FROM {shares} s WHERE s.{key} = {outer} AND s.team_id {all})"
        ),
        None => String::new(),
    };
    Some(format!(
        "(NOT EXISTS (SELECT 1 FROM {table} a WHERE a.{key} = {outer} AND a.team_id IS NOT NULL)
          OR EXISTS (SELECT 1 FROM {table} a WHERE a.{key} = {outer}
                     AND (a.visibility = 'public'
                          OR a.team_id {managing}
                          OR (a.visibility = 'team' AND a.team_id {all})
                          OR (a.creator_id = {user} AND a.team_id {writing})))
          {shared})"
    ))
}
