//! Teams, memberships, experiments' access records and shares on SQLite (migration 10). The
//! readable-experiments condition searches add for a signed-in caller is backend-neutral, in
//! `crate::sqlbuild::access`.

use async_trait::async_trait;
use cairn_core::access::{ExperimentAccess, Member, Role, Share, ShareLevel, Team, Visibility};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use crate::access::AccessStore;
use crate::{Result, StoreError};

pub const TABLES: &str = r#"
    CREATE TABLE teams (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        personal_of INTEGER UNIQUE REFERENCES users (id),
        created     INTEGER NOT NULL
    );

    CREATE TABLE team_members (
        team_id INTEGER NOT NULL REFERENCES teams (id),
        user_id INTEGER NOT NULL REFERENCES users (id),
        role    TEXT NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
        PRIMARY KEY (team_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX team_members_user ON team_members (user_id, team_id);

    CREATE TABLE experiment_access (
        experiment_id INTEGER PRIMARY KEY REFERENCES experiments (experiment_id),
        team_id       INTEGER REFERENCES teams (id),
        visibility    TEXT NOT NULL CHECK (visibility IN ('private', 'team', 'public')),
        creator_id    INTEGER REFERENCES users (id)
    );
    CREATE INDEX experiment_access_team ON experiment_access (team_id);

    CREATE TABLE experiment_shares (
        experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
        team_id       INTEGER NOT NULL REFERENCES teams (id),
        level         TEXT NOT NULL CHECK (level IN ('read', 'write')),
        PRIMARY KEY (experiment_id, team_id)
    ) WITHOUT ROWID;
    CREATE INDEX experiment_shares_team ON experiment_shares (team_id, experiment_id);

    CREATE INDEX experiments_location ON experiments (artifact_location);
"#;

const TEAM_COLUMNS: &str = "t.id, t.name, t.personal_of, t.created";

fn team_row(row: &Row<'_>) -> rusqlite::Result<Team> {
    Ok(Team {
        id: row.get(0)?,
        name: row.get(1)?,
        personal_of: row.get(2)?,
        created: row.get(3)?,
    })
}

fn parse_role(text: &str) -> Result<Role> {
    Role::parse(text)
        .ok_or_else(|| StoreError::Internal(format!("unknown role {text:?} in database")))
}

fn team_where(
    conn: &Connection,
    condition: &str,
    value: impl rusqlite::ToSql,
) -> Result<Option<Team>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TEAM_COLUMNS} FROM teams t WHERE {condition}"
        ))?
        .query_row(params![value], team_row)
        .optional()?)
}

fn create_team(
    conn: &Connection,
    name: &str,
    owner: i64,
    personal: bool,
    now: i64,
) -> Result<Team> {
    if team_where(conn, "t.name = ?1", name)?.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "A team named '{name}' exists already"
        )));
    }
    if personal && team_where(conn, "t.personal_of = ?1", owner)?.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "User {owner} has a personal team already"
        )));
    }
    conn.prepare_cached("INSERT INTO teams (name, personal_of, created) VALUES (?1, ?2, ?3)")?
        .execute(params![name, personal.then_some(owner), now])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO team_members (team_id, user_id, role) VALUES (?1, ?2, 'owner')",
    )?
    .execute(params![id, owner])?;
    team_where(conn, "t.id = ?1", id)?
        .ok_or_else(|| StoreError::Internal("a new team cannot be read back".into()))
}

fn list_teams(conn: &Connection, user_id: i64, all: bool) -> Result<Vec<(Team, Option<Role>)>> {
    let join = if all { "LEFT JOIN" } else { "JOIN" };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {TEAM_COLUMNS}, m.role FROM teams t
         {join} team_members m ON m.team_id = t.id AND m.user_id = ?1 ORDER BY t.name"
    ))?;
    let rows = statement.query_map(params![user_id], |row| {
        Ok((team_row(row)?, row.get::<_, Option<String>>(4)?))
    })?;
    rows.map(|row| {
        let (team, role) = row?;
        Ok((team, role.as_deref().map(parse_role).transpose()?))
    })
    .collect()
}

fn delete_team(conn: &Connection, team_id: i64) -> Result<()> {
    let owned: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM experiment_access WHERE team_id = ?1")?
        .query_row(params![team_id], |row| row.get(0))?;
    if owned > 0 {
        return Err(StoreError::InvalidArgument(format!(
            "The team still owns {owned} experiment(s): move them to another team first"
        )));
    }
    conn.prepare_cached("DELETE FROM experiment_shares WHERE team_id = ?1")?
        .execute(params![team_id])?;
    conn.prepare_cached("DELETE FROM team_members WHERE team_id = ?1")?
        .execute(params![team_id])?;
    let removed = conn
        .prepare_cached("DELETE FROM teams WHERE id = ?1")?
        .execute(params![team_id])?;
    if removed == 0 {
        return Err(StoreError::NotFound(format!("No team with id {team_id}")));
    }
    Ok(())
}

fn team_members(conn: &Connection, team_id: i64) -> Result<Vec<Member>> {
    let mut statement = conn.prepare_cached(
        "SELECT m.user_id, u.username, m.role FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = ?1 ORDER BY u.username",
    )?;
    let rows = statement.query_map(params![team_id], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get::<_, String>(2)?))
    })?;
    rows.map(|row| {
        let (user_id, username, role) = row?;
        Ok(Member {
            user_id,
            username,
            role: parse_role(&role)?,
        })
    })
    .collect()
}

fn set_member(conn: &Connection, team_id: i64, user_id: i64, role: Option<Role>) -> Result<()> {
    if team_where(conn, "t.id = ?1", team_id)?.is_none() {
        return Err(StoreError::NotFound(format!("No team with id {team_id}")));
    }
    match role {
        Some(role) => {
            conn.prepare_cached(
                "INSERT INTO team_members (team_id, user_id, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
            )?
            .execute(params![team_id, user_id, role.as_str()])?;
        }
        None => {
            conn.prepare_cached("DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2")?
                .execute(params![team_id, user_id])?;
        }
    }
    let owners: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM team_members WHERE team_id = ?1 AND role = 'owner'")?
        .query_row(params![team_id], |row| row.get(0))?;
    if owners == 0 {
        // The writer rolls this job back with the error.
        return Err(StoreError::InvalidArgument(
            "A team must keep at least one owner: make someone else owner first".into(),
        ));
    }
    Ok(())
}

fn memberships(conn: &Connection, user_id: i64) -> Result<Vec<(i64, Role)>> {
    let mut statement =
        conn.prepare_cached("SELECT team_id, role FROM team_members WHERE user_id = ?1")?;
    let rows = statement.query_map(params![user_id], |row| {
        Ok((row.get(0)?, row.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (team, role) = row?;
        Ok((team, parse_role(&role)?))
    })
    .collect()
}

fn experiment_access(conn: &Connection, ids: &[String]) -> Result<Vec<ExperimentAccess>> {
    let mut access_row = conn.prepare_cached(
        "SELECT team_id, visibility, creator_id FROM experiment_access WHERE experiment_id = ?1",
    )?;
    let mut share_rows = conn.prepare_cached(
        "SELECT team_id, level FROM experiment_shares WHERE experiment_id = ?1 ORDER BY team_id",
    )?;
    let mut found = Vec::new();
    for id in ids {
        let Ok(number) = id.parse::<i64>() else {
            continue;
        };
        let Some((team_id, visibility, creator_id)) = access_row
            .query_row(params![number], |row| {
                Ok((row.get(0)?, row.get::<_, String>(1)?, row.get(2)?))
            })
            .optional()?
        else {
            continue;
        };
        let visibility = Visibility::parse(&visibility).ok_or_else(|| {
            StoreError::Internal(format!("unknown visibility {visibility:?} in database"))
        })?;
        let shares = share_rows
            .query_map(params![number], |row| {
                Ok((row.get(0)?, row.get::<_, String>(1)?))
            })?
            .map(|row| {
                let (team_id, level) = row?;
                let level = ShareLevel::parse(&level).ok_or_else(|| {
                    StoreError::Internal(format!("unknown share level {level:?} in database"))
                })?;
                Ok(Share { team_id, level })
            })
            .collect::<Result<Vec<_>>>()?;
        found.push(ExperimentAccess {
            experiment_id: id.clone(),
            team_id,
            visibility,
            creator_id,
            shares,
        });
    }
    Ok(found)
}

fn experiment_number(conn: &Connection, experiment_id: &str) -> Result<i64> {
    let missing = || StoreError::NotFound(format!("No Experiment with id={experiment_id} exists"));
    let number: i64 = experiment_id.parse().map_err(|_| missing())?;
    conn.prepare_cached("SELECT experiment_id FROM experiments WHERE experiment_id = ?1")?
        .query_row(params![number], |row| row.get(0))
        .optional()?
        .ok_or_else(missing)
}

/// Writes an experiment's access record (within the caller's transaction).
pub fn set_access(
    conn: &Connection,
    experiment: i64,
    team_id: Option<i64>,
    visibility: Visibility,
    creator_id: Option<i64>,
) -> Result<()> {
    if let Some(team) = team_id
        && team_where(conn, "t.id = ?1", team)?.is_none()
    {
        return Err(StoreError::NotFound(format!("No team with id {team}")));
    }
    conn.prepare_cached(
        "INSERT INTO experiment_access (experiment_id, team_id, visibility, creator_id)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (experiment_id) DO UPDATE SET team_id = excluded.team_id,
             visibility = excluded.visibility, creator_id = excluded.creator_id",
    )?
    .execute(params![
        experiment,
        team_id,
        visibility.as_str(),
        creator_id
    ])?;
    Ok(())
}

fn set_share(
    conn: &Connection,
    experiment_id: &str,
    team_id: i64,
    level: Option<ShareLevel>,
) -> Result<()> {
    let experiment = experiment_number(conn, experiment_id)?;
    match level {
        Some(level) => {
            if team_where(conn, "t.id = ?1", team_id)?.is_none() {
                return Err(StoreError::NotFound(format!("No team with id {team_id}")));
            }
            conn.prepare_cached(
                "INSERT INTO experiment_shares (experiment_id, team_id, level) VALUES (?1, ?2, ?3)
                 ON CONFLICT (experiment_id, team_id) DO UPDATE SET level = excluded.level",
            )?
            .execute(params![experiment, team_id, level.as_str()])?;
        }
        None => {
            conn.prepare_cached(
                "DELETE FROM experiment_shares WHERE experiment_id = ?1 AND team_id = ?2",
            )?
            .execute(params![experiment, team_id])?;
        }
    }
    Ok(())
}

fn experiments_with_locations(conn: &Connection, locations: &[String]) -> Result<Vec<String>> {
    let mut statement =
        conn.prepare_cached("SELECT experiment_id FROM experiments WHERE artifact_location = ?1")?;
    let mut found = Vec::new();
    for location in locations {
        let rows = statement.query_map(params![location], |row| row.get::<_, i64>(0))?;
        for row in rows {
            found.push(row?.to_string());
        }
    }
    Ok(found)
}

/// Registered models' owning team, visibility and creator (migration 11). A model without a row
/// (made while authentication was off) is common ground, like such an experiment.
pub const MODEL_TABLES: &str = r#"
    CREATE TABLE registered_model_access (
        registered_model INTEGER PRIMARY KEY REFERENCES registered_models (id),
        team_id          INTEGER REFERENCES teams (id),
        visibility       TEXT NOT NULL CHECK (visibility IN ('private', 'team', 'public')),
        creator_id       INTEGER REFERENCES users (id)
    );
    CREATE INDEX registered_model_access_team ON registered_model_access (team_id);
"#;

fn model_number(conn: &Connection, name: &str) -> Result<i64> {
    conn.prepare_cached("SELECT id FROM registered_models WHERE name = ?1")?
        .query_row(params![name], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::registered_model_not_found(name))
}

fn set_model_access(
    conn: &Connection,
    name: &str,
    team_id: Option<i64>,
    visibility: Visibility,
    creator_id: Option<i64>,
) -> Result<()> {
    let model = model_number(conn, name)?;
    if let Some(team) = team_id
        && team_where(conn, "t.id = ?1", team)?.is_none()
    {
        return Err(StoreError::NotFound(format!("No team with id {team}")));
    }
    conn.prepare_cached(
        "INSERT INTO registered_model_access (registered_model, team_id, visibility, creator_id)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (registered_model) DO UPDATE SET team_id = excluded.team_id,
             visibility = excluded.visibility, creator_id = excluded.creator_id",
    )?
    .execute(params![model, team_id, visibility.as_str(), creator_id])?;
    Ok(())
}

fn model_access(conn: &Connection, name: &str) -> Result<Option<ExperimentAccess>> {
    let found = conn
        .prepare_cached(
            "SELECT a.team_id, a.visibility, a.creator_id FROM registered_model_access a
             JOIN registered_models r ON r.id = a.registered_model WHERE r.name = ?1",
        )?
        .query_row(params![name], |row| {
            Ok((row.get(0)?, row.get::<_, String>(1)?, row.get(2)?))
        })
        .optional()?;
    found
        .map(|(team_id, visibility, creator_id)| {
            Ok(ExperimentAccess {
                experiment_id: name.to_string(),
                team_id,
                visibility: Visibility::parse(&visibility).ok_or_else(|| {
                    StoreError::Internal(format!("unknown visibility {visibility:?} in database"))
                })?,
                creator_id,
                shares: Vec::new(),
            })
        })
        .transpose()
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn create_team(&self, name: &str, owner: i64, personal: bool, now: i64) -> Result<Team> {
        let name = name.to_string();
        self.write(move |conn| create_team(conn, &name, owner, personal, now))
            .await
    }

    async fn team_by_name(&self, name: &str) -> Result<Option<Team>> {
        let name = name.to_string();
        self.read(move |conn| team_where(conn, "t.name = ?1", name))
            .await
    }

    async fn team_by_id(&self, id: i64) -> Result<Option<Team>> {
        self.read(move |conn| team_where(conn, "t.id = ?1", id))
            .await
    }

    async fn personal_team(&self, user_id: i64) -> Result<Option<Team>> {
        self.read(move |conn| team_where(conn, "t.personal_of = ?1", user_id))
            .await
    }

    async fn list_teams(&self, user_id: i64, all: bool) -> Result<Vec<(Team, Option<Role>)>> {
        self.read(move |conn| list_teams(conn, user_id, all)).await
    }

    async fn delete_team(&self, team_id: i64) -> Result<()> {
        self.write(move |conn| delete_team(conn, team_id)).await
    }

    async fn team_members(&self, team_id: i64) -> Result<Vec<Member>> {
        self.read(move |conn| team_members(conn, team_id)).await
    }

    async fn set_member(&self, team_id: i64, user_id: i64, role: Option<Role>) -> Result<()> {
        self.write(move |conn| set_member(conn, team_id, user_id, role))
            .await
    }

    async fn memberships(&self, user_id: i64) -> Result<Vec<(i64, Role)>> {
        self.read(move |conn| memberships(conn, user_id)).await
    }

    async fn experiment_access(&self, experiment_ids: &[String]) -> Result<Vec<ExperimentAccess>> {
        let ids = experiment_ids.to_vec();
        self.read(move |conn| experiment_access(conn, &ids)).await
    }

    async fn set_experiment_access(
        &self,
        experiment_id: &str,
        team_id: Option<i64>,
        visibility: Visibility,
        creator_id: Option<i64>,
    ) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |conn| {
            let experiment = experiment_number(conn, &id)?;
            set_access(conn, experiment, team_id, visibility, creator_id)
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
        self.write(move |conn| set_share(conn, &id, team_id, level))
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
        self.write(move |conn| {
            super::registry::create_model(conn, &name, description.as_deref(), &tags, now)?;
            set_model_access(
                conn,
                &name,
                owner.team_id,
                owner.visibility,
                owner.creator_id,
            )?;
            super::registry::get_model(conn, &name)
        })
        .await
    }

    async fn registered_model_access(&self, name: &str) -> Result<Option<ExperimentAccess>> {
        let name = name.to_string();
        self.read(move |conn| model_access(conn, &name)).await
    }

    async fn set_registered_model_access(
        &self,
        name: &str,
        team_id: Option<i64>,
        visibility: Visibility,
        creator_id: Option<i64>,
    ) -> Result<()> {
        let name = name.to_string();
        self.write(move |conn| set_model_access(conn, &name, team_id, visibility, creator_id))
            .await
    }

    async fn experiments_with_locations(&self, locations: &[String]) -> Result<Vec<String>> {
        let locations = locations.to_vec();
        self.read(move |conn| experiments_with_locations(conn, &locations))
            .await
    }
}
