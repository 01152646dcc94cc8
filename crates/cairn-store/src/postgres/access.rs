//! Teams, memberships, experiments' and registered models' access records and shares on
//! PostgreSQL. The readable-experiments condition searches add for a signed-in caller is
//! backend-neutral, in `crate::sqlbuild::access` (team ids bound as `= ANY($n)` arrays here).
//!
//! Differences from the embedded store, all for concurrent writers: a membership change locks
//! its team's row (`FOR UPDATE`) before it counts the owners, so two changes cannot each leave
//! the other's owner as the last one and both step down; deleting a team locks its row before it
//! checks that no experiment belongs to it, and whatever points a record at a team locks that
//! team's row `FOR KEY SHARE` (as the foreign key would), so a record never lands on a team being
//! deleted — it waits and then answers `NotFound`.

use async_trait::async_trait;
use cairn_core::access::{ExperimentAccess, Member, Role, Share, ShareLevel, Team, Visibility};
use postgres::Transaction;
use postgres::types::ToSql;

use super::PgStore;
use crate::access::AccessStore;
use crate::{Result, StoreError};

const TEAM_COLUMNS: &str = "t.id, t.name, t.personal_of, t.created";

fn team_row(row: &postgres::Row) -> Team {
    Team {
        id: row.get(0),
        name: row.get(1),
        personal_of: row.get(2),
        created: row.get(3),
    }
}

fn parse_role(text: &str) -> Result<Role> {
    Role::parse(text)
        .ok_or_else(|| StoreError::Internal(format!("unknown role {text:?} in database")))
}

fn parse_visibility(text: &str) -> Result<Visibility> {
    Visibility::parse(text)
        .ok_or_else(|| StoreError::Internal(format!("unknown visibility {text:?} in database")))
}

fn team_where(
    tx: &mut Transaction<'_>,
    condition: &str,
    value: &(dyn ToSql + Sync),
) -> Result<Option<Team>> {
    Ok(tx
        .query_opt(
            &format!("SELECT {TEAM_COLUMNS} FROM teams t WHERE {condition}"),
            &[value],
        )?
        .map(|row| team_row(&row)))
}

/// Whether the team exists, locking its row as `lock` says (`FOR UPDATE`, `FOR KEY SHARE`)
/// until the transaction ends.
fn lock_team(tx: &mut Transaction<'_>, team_id: i64, lock: &str) -> Result<bool> {
    Ok(tx
        .query_opt(
            &format!("SELECT 1 FROM teams WHERE id = $1 {lock}"),
            &[&team_id],
        )?
        .is_some())
}

/// Locks a team that a record is about to point at, `NotFound` when there is none.
fn require_team(tx: &mut Transaction<'_>, team_id: i64) -> Result<()> {
    if lock_team(tx, team_id, "FOR KEY SHARE")? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("No team with id {team_id}")))
    }
}

fn create_team(
    tx: &mut Transaction<'_>,
    name: &str,
    owner: i64,
    personal: bool,
    now: i64,
) -> Result<Team> {
    // A team made meanwhile under the same name (or for the same user) makes the insert fail
    // on its unique key; the write is run again and these checks see it.
    if team_where(tx, "t.name = $1", &name)?.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "A team named '{name}' exists already"
        )));
    }
    if personal && team_where(tx, "t.personal_of = $1", &owner)?.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "User {owner} has a personal team already"
        )));
    }
    let id: i64 = tx
        .query_one(
            "INSERT INTO teams (name, personal_of, created) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &personal.then_some(owner), &now],
        )?
        .get(0);
    tx.execute(
        "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, 'owner')",
        &[&id, &owner],
    )?;
    team_where(tx, "t.id = $1", &id)?
        .ok_or_else(|| StoreError::Internal("a new team cannot be read back".into()))
}

fn list_teams(
    tx: &mut Transaction<'_>,
    user_id: i64,
    all: bool,
) -> Result<Vec<(Team, Option<Role>)>> {
    let join = if all { "LEFT JOIN" } else { "JOIN" };
    tx.query(
        &format!(
            "SELECT {TEAM_COLUMNS}, m.role FROM teams t
             {join} team_members m ON m.team_id = t.id AND m.user_id = $1 ORDER BY t.name"
        ),
        &[&user_id],
    )?
    .iter()
    .map(|row| {
        let role: Option<String> = row.get(4);
        Ok((team_row(row), role.as_deref().map(parse_role).transpose()?))
    })
    .collect()
}

fn delete_team(tx: &mut Transaction<'_>, team_id: i64) -> Result<()> {
    if !lock_team(tx, team_id, "FOR UPDATE")? {
        return Err(StoreError::NotFound(format!("No team with id {team_id}")));
    }
    let owned: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM experiment_access WHERE team_id = $1",
            &[&team_id],
        )?
        .get(0);
    if owned > 0 {
        return Err(StoreError::InvalidArgument(format!(
            "The team still owns {owned} experiment(s): move them to another team first"
        )));
    }
    tx.execute(
        "DELETE FROM experiment_shares WHERE team_id = $1",
        &[&team_id],
    )?;
    tx.execute("DELETE FROM team_members WHERE team_id = $1", &[&team_id])?;
    tx.execute("DELETE FROM teams WHERE id = $1", &[&team_id])?;
    Ok(())
}

fn team_members(tx: &mut Transaction<'_>, team_id: i64) -> Result<Vec<Member>> {
    tx.query(
        "SELECT m.user_id, u.username, m.role FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 ORDER BY u.username",
        &[&team_id],
    )?
    .iter()
    .map(|row| {
        Ok(Member {
            user_id: row.get(0),
            username: row.get(1),
            role: parse_role(row.get(2))?,
        })
    })
    .collect()
}

fn set_member(
    tx: &mut Transaction<'_>,
    team_id: i64,
    user_id: i64,
    role: Option<Role>,
) -> Result<()> {
    // The team's row lock orders membership changes, so the owner count below sees every
    // change committed before this one.
    if !lock_team(tx, team_id, "FOR UPDATE")? {
        return Err(StoreError::NotFound(format!("No team with id {team_id}")));
    }
    match role {
        Some(role) => {
            tx.execute(
                "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)
                 ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
                &[&team_id, &user_id, &role.as_str()],
            )?;
        }
        None => {
            tx.execute(
                "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
                &[&team_id, &user_id],
            )?;
        }
    }
    let owners: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner'",
            &[&team_id],
        )?
        .get(0);
    if owners == 0 {
        // The transaction is rolled back with the error.
        return Err(StoreError::InvalidArgument(
            "A team must keep at least one owner: make someone else owner first".into(),
        ));
    }
    Ok(())
}

fn memberships(tx: &mut Transaction<'_>, user_id: i64) -> Result<Vec<(i64, Role)>> {
    tx.query(
        "SELECT team_id, role FROM team_members WHERE user_id = $1",
        &[&user_id],
    )?
    .iter()
    .map(|row| Ok((row.get(0), parse_role(row.get(1))?)))
    .collect()
}

fn experiment_access(tx: &mut Transaction<'_>, ids: &[String]) -> Result<Vec<ExperimentAccess>> {
    let access_row = tx.prepare(
        "SELECT team_id, visibility, creator_id FROM experiment_access WHERE experiment_id = $1",
    )?;
    let share_rows = tx.prepare(
        "SELECT team_id, level FROM experiment_shares WHERE experiment_id = $1 ORDER BY team_id",
    )?;
    let mut found = Vec::new();
    for id in ids {
        let Ok(number) = id.parse::<i64>() else {
            continue;
        };
        let Some(row) = tx.query_opt(&access_row, &[&number])? else {
            continue;
        };
        let shares = tx
            .query(&share_rows, &[&number])?
            .iter()
            .map(|share| {
                let level: &str = share.get(1);
                let level = ShareLevel::parse(level).ok_or_else(|| {
                    StoreError::Internal(format!("unknown share level {level:?} in database"))
                })?;
                Ok(Share {
                    team_id: share.get(0),
                    level,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        found.push(ExperimentAccess {
            experiment_id: id.clone(),
            team_id: row.get(0),
            visibility: parse_visibility(row.get(1))?,
            creator_id: row.get(2),
            shares,
        });
    }
    Ok(found)
}

/// The experiment's number, its row locked against removal until the transaction ends.
fn experiment_number(tx: &mut Transaction<'_>, experiment_id: &str) -> Result<i64> {
    let missing = || StoreError::NotFound(format!("No Experiment with id={experiment_id} exists"));
    let number: i64 = experiment_id.parse().map_err(|_| missing())?;
    tx.query_opt(
        "SELECT experiment_id FROM experiments WHERE experiment_id = $1 FOR KEY SHARE",
        &[&number],
    )?
    .map(|row| row.get(0))
    .ok_or_else(missing)
}

/// Writes an experiment's access record (within the caller's transaction).
pub fn set_access(
    tx: &mut Transaction<'_>,
    experiment: i64,
    team_id: Option<i64>,
    visibility: Visibility,
    creator_id: Option<i64>,
) -> Result<()> {
    if let Some(team) = team_id {
        require_team(tx, team)?;
    }
    tx.execute(
        "INSERT INTO experiment_access (experiment_id, team_id, visibility, creator_id)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (experiment_id) DO UPDATE SET team_id = excluded.team_id,
             visibility = excluded.visibility, creator_id = excluded.creator_id",
        &[&experiment, &team_id, &visibility.as_str(), &creator_id],
    )?;
    Ok(())
}

fn set_share(
    tx: &mut Transaction<'_>,
    experiment_id: &str,
    team_id: i64,
    level: Option<ShareLevel>,
) -> Result<()> {
    let experiment = experiment_number(tx, experiment_id)?;
    match level {
        Some(level) => {
            require_team(tx, team_id)?;
            tx.execute(
                "INSERT INTO experiment_shares (experiment_id, team_id, level) VALUES ($1, $2, $3)
                 ON CONFLICT (experiment_id, team_id) DO UPDATE SET level = excluded.level",
                &[&experiment, &team_id, &level.as_str()],
            )?;
        }
        None => {
            tx.execute(
                "DELETE FROM experiment_shares WHERE experiment_id = $1 AND team_id = $2",
                &[&experiment, &team_id],
            )?;
        }
    }
    Ok(())
}

fn experiments_with_locations(
    tx: &mut Transaction<'_>,
    locations: &[String],
) -> Result<Vec<String>> {
    let statement = tx.prepare(
        "SELECT experiment_id FROM experiments WHERE artifact_location = $1
         ORDER BY experiment_id",
    )?;
    let mut found = Vec::new();
    for location in locations {
        for row in tx.query(&statement, &[location])? {
            found.push(row.get::<_, i64>(0).to_string());
        }
    }
    Ok(found)
}

/// The registered model's id, its row locked against removal until the transaction ends.
fn model_number(tx: &mut Transaction<'_>, name: &str) -> Result<i64> {
    tx.query_opt(
        "SELECT id FROM registered_models WHERE name = $1 FOR KEY SHARE",
        &[&name],
    )?
    .map(|row| row.get(0))
    .ok_or_else(|| StoreError::registered_model_not_found(name))
}

fn set_model_access(
    tx: &mut Transaction<'_>,
    name: &str,
    team_id: Option<i64>,
    visibility: Visibility,
    creator_id: Option<i64>,
) -> Result<()> {
    let model = model_number(tx, name)?;
    if let Some(team) = team_id {
        require_team(tx, team)?;
    }
    tx.execute(
        "INSERT INTO registered_model_access (registered_model, team_id, visibility, creator_id)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (registered_model) DO UPDATE SET team_id = excluded.team_id,
             visibility = excluded.visibility, creator_id = excluded.creator_id",
        &[&model, &team_id, &visibility.as_str(), &creator_id],
    )?;
    Ok(())
}

fn model_access(tx: &mut Transaction<'_>, name: &str) -> Result<Option<ExperimentAccess>> {
    tx.query_opt(
        "SELECT a.team_id, a.visibility, a.creator_id FROM registered_model_access a
         JOIN registered_models r ON r.id = a.registered_model WHERE r.name = $1",
        &[&name],
    )?
    .map(|row| {
        Ok(ExperimentAccess {
            experiment_id: name.to_string(),
            team_id: row.get(0),
            visibility: parse_visibility(row.get(1))?,
            creator_id: row.get(2),
            shares: Vec::new(),
        })
    })
    .transpose()
}

#[async_trait]
impl AccessStore for PgStore {
    async fn create_team(&self, name: &str, owner: i64, personal: bool, now: i64) -> Result<Team> {
        let name = name.to_string();
        self.write(move |tx| create_team(tx, &name, owner, personal, now))
            .await
    }

    async fn team_by_name(&self, name: &str) -> Result<Option<Team>> {
        let name = name.to_string();
        self.read(move |tx| team_where(tx, "t.name = $1", &name))
            .await
    }

    async fn team_by_id(&self, id: i64) -> Result<Option<Team>> {
        self.read(move |tx| team_where(tx, "t.id = $1", &id)).await
    }

    async fn personal_team(&self, user_id: i64) -> Result<Option<Team>> {
        self.read(move |tx| team_where(tx, "t.personal_of = $1", &user_id))
            .await
    }

    async fn list_teams(&self, user_id: i64, all: bool) -> Result<Vec<(Team, Option<Role>)>> {
        self.read(move |tx| list_teams(tx, user_id, all)).await
    }

    async fn delete_team(&self, team_id: i64) -> Result<()> {
        self.write(move |tx| delete_team(tx, team_id)).await
    }

    async fn team_members(&self, team_id: i64) -> Result<Vec<Member>> {
        self.read(move |tx| team_members(tx, team_id)).await
    }

    async fn set_member(&self, team_id: i64, user_id: i64, role: Option<Role>) -> Result<()> {
        self.write(move |tx| set_member(tx, team_id, user_id, role))
            .await
    }

    async fn memberships(&self, user_id: i64) -> Result<Vec<(i64, Role)>> {
        self.read(move |tx| memberships(tx, user_id)).await
    }

    async fn experiment_access(&self, experiment_ids: &[String]) -> Result<Vec<ExperimentAccess>> {
        let ids = experiment_ids.to_vec();
        self.read(move |tx| experiment_access(tx, &ids)).await
    }

    async fn set_experiment_access(
        &self,
        experiment_id: &str,
        team_id: Option<i64>,
        visibility: Visibility,
        creator_id: Option<i64>,
    ) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| {
            let experiment = experiment_number(tx, &id)?;
            set_access(tx, experiment, team_id, visibility, creator_id)
        })
        .await
    }

    async fn set_share(
        &self,
        experiment_id: &str,
        team_id: i64,
        level: Option<ShareLevel>,
    ) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| set_share(tx, &id, team_id, level))
            .await
    }

    async fn create_registered_model_owned(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<cairn_core::model::Tag>,
        now: i64,
        owner: ExperimentAccess,
    ) -> Result<cairn_core::registry::RegisteredModel> {
        let name = name.to_string();
        self.write(move |tx| {
            super::registry::create_model(tx, &name, description.as_deref(), &tags, now)?;
            set_model_access(tx, &name, owner.team_id, owner.visibility, owner.creator_id)?;
            super::registry::get_model(tx, &name)
        })
        .await
    }

    async fn registered_model_access(&self, name: &str) -> Result<Option<ExperimentAccess>> {
        let name = name.to_string();
        self.read(move |tx| model_access(tx, &name)).await
    }

    async fn set_registered_model_access(
        &self,
        name: &str,
        team_id: Option<i64>,
        visibility: Visibility,
        creator_id: Option<i64>,
    ) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| set_model_access(tx, &name, team_id, visibility, creator_id))
            .await
    }

    async fn experiments_with_locations(&self, locations: &[String]) -> Result<Vec<String>> {
        let locations = locations.to_vec();
        self.read(move |tx| experiments_with_locations(tx, &locations))
            .await
    }
}
