//! Authorisation: whether the signed-in caller may read, write or manage the experiment a request
//! touches, asked by the services before they read or write anything.
//!
//! Every route reaches data through the tracking service (`Tracking`, and its `Artifacts`,
//! registry, lineage and comment parts), and each of their entry points asks this service first:
//! a run's or logged model's experiment, an artifact path's experiment (the one whose artifact
//! location is a prefix of it), or the experiments a search may cover. The decision itself is
//! `cairn_core::access::permission`; a search is narrowed to readable experiments instead (in
//! SQL for experiment searches), so results and totals never count what the caller cannot see.
//!
//! Without a signed-in caller (authentication off, the CLI, the server's own background work)
//! everything is allowed. A caller without read permission gets the same 404 a missing
//! experiment, run or file gets; one who may read but not do more gets a 403.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_blob::ArtifactPath;
use cairn_core::access::{
    ExperimentAccess, Member, Permission, Role, ShareLevel, Team, Visibility, check_team_name,
    permission, personal_team_name,
};
use cairn_core::lineage::PROXY_SCHEME;
use cairn_core::model::Tag;
use cairn_store::Store;

use crate::auth::{Caller, current};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The tag that names a new experiment's team (taken out; not stored as a tag).
pub const TEAM_TAG: &str = "cairn.team";
/// The tag that sets a new experiment's visibility: private, team or public.
pub const VISIBILITY_TAG: &str = "cairn.visibility";

/// Entries of the run → experiment cache before it is cleared.
const RUN_CACHE_LIMIT: usize = 100_000;

/// The authorisation service. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    store: Arc<dyn Store>,
    /// Which experiment each recently seen run or logged model belongs to (they never move).
    owners: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

/// What a refusal is about, for its message.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Experiment(&'a str),
    Run(&'a str),
    Model(&'a str),
    RegisteredModel(&'a str),
    Path(&'a str),
}

impl Target<'_> {
    /// The answer for a caller who may not even read: what a missing target gets.
    fn hidden(self) -> ApiError {
        match self {
            Target::Experiment(id) => {
                ApiError::not_found(format!("No Experiment with id={id} exists"))
            }
            Target::Run(id) => ApiError::not_found(format!("Run with id={id} not found")),
            Target::Model(id) => {
                ApiError::not_found(format!("Logged model with ID '{id}' not found."))
            }
            Target::RegisteredModel(name) => {
                ApiError::not_found(format!("Registered Model with name={name} not found"))
            }
            Target::Path(path) => ApiError::not_found(format!("No artifact at '{path}'")),
        }
    }

    fn describe(self) -> String {
        match self {
            Target::Experiment(id) => format!("experiment {id}"),
            Target::Run(id) => format!("run {id}"),
            Target::Model(id) => format!("logged model {id}"),
            Target::RegisteredModel(name) => format!("registered model '{name}'"),
            Target::Path(path) => format!("'{path}'"),
        }
    }
}

/// The refusal for a caller with `have` who needs `need` on `target`.
fn refusal(target: Target<'_>, have: Permission, need: Permission) -> ApiError {
    if have == Permission::None {
        return target.hidden();
    }
    let what = target.describe();
    let message = match need {
        Permission::Manage => format!(
            "Managing {what} (renaming, deleting, restoring, changing who may see it) needs the \
             owner or admin role in its team, or being the experiment's creator"
        ),
        _ => format!("You may only read {what}: writing needs the member role or a write share"),
    };
    ApiError::new(ErrorCode::PermissionDenied, message)
}

impl Access {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Access {
            store,
            owners: Arc::default(),
        }
    }

    /// Notes which experiment a run or logged model belongs to.
    pub fn remember(&self, id: &str, experiment_id: &str) {
        if let Ok(mut cache) = self.owners.lock() {
            if cache.len() >= RUN_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(id.to_string(), experiment_id.to_string());
        }
    }

    fn remembered(&self, id: &str) -> Option<String> {
        self.owners.lock().ok()?.get(id).cloned()
    }

    /// The experiment of a run; `None` when there is no such run.
    pub async fn experiment_of_run(&self, run_id: &str) -> Option<String> {
        if let Some(found) = self.remembered(run_id) {
            return Some(found);
        }
        let run = self.store.get_run(run_id).await.ok()?;
        self.remember(run_id, &run.info.experiment_id);
        Some(run.info.experiment_id)
    }

    /// The experiment of a logged model; `None` when there is no such model.
    pub async fn experiment_of_model(&self, model_id: &str) -> Option<String> {
        if let Some(found) = self.remembered(model_id) {
            return Some(found);
        }
        let model = self.store.get_logged_model(model_id).await.ok()?;
        self.remember(model_id, &model.experiment_id);
        Some(model.experiment_id)
    }

    /// What `caller` may do with an experiment.
    async fn permission_of(&self, caller: &Caller, experiment_id: &str) -> ApiResult<Permission> {
        if caller.viewer.is_admin {
            return Ok(Permission::Manage);
        }
        let records = self
            .store
            .experiment_access(&[experiment_id.to_string()])
            .await?;
        Ok(permission(&caller.viewer, records.first()))
    }

    /// What the caller may do with an experiment (everything without a signed-in caller).
    pub async fn experiment_permission(&self, experiment_id: &str) -> ApiResult<Permission> {
        match current() {
            None => Ok(Permission::Manage),
            Some(caller) => self.permission_of(&caller, experiment_id).await,
        }
    }

    /// Refuses unless the caller has `need` on the experiment.
    pub async fn experiment(&self, experiment_id: &str, need: Permission) -> ApiResult<()> {
        self.check(experiment_id, need, Target::Experiment(experiment_id))
            .await
    }

    async fn check(
        &self,
        experiment_id: &str,
        need: Permission,
        target: Target<'_>,
    ) -> ApiResult<()> {
        let Some(caller) = current() else {
            return Ok(());
        };
        let have = self.permission_of(&caller, experiment_id).await?;
        if have >= need {
            Ok(())
        } else {
            Err(refusal(target, have, need))
        }
    }

    /// Refuses unless the caller has `need` on the run's experiment. An unknown run passes: the
    /// operation itself answers that it does not exist.
    pub async fn run(&self, run_id: &str, need: Permission) -> ApiResult<()> {
        if current().is_none() {
            return Ok(());
        }
        match self.experiment_of_run(run_id).await {
            Some(experiment) => self.check(&experiment, need, Target::Run(run_id)).await,
            None => Ok(()),
        }
    }

    /// [`Access::run`] for several runs.
    pub async fn runs(&self, run_ids: &[String], need: Permission) -> ApiResult<()> {
        for run_id in run_ids {
            self.run(run_id, need).await?;
        }
        Ok(())
    }

    /// Refuses unless the caller has `need` on the logged model's experiment.
    pub async fn model(&self, model_id: &str, need: Permission) -> ApiResult<()> {
        if current().is_none() {
            return Ok(());
        }
        match self.experiment_of_model(model_id).await {
            Some(experiment) => self.check(&experiment, need, Target::Model(model_id)).await,
            None => Ok(()),
        }
    }

    /// What the caller may do with a registered model (its own team and visibility, no shares).
    /// A model that does not exist gets `Manage`: the operation itself answers that it is missing.
    pub async fn registered_model_permission(&self, name: &str) -> ApiResult<Permission> {
        let Some(caller) = current() else {
            return Ok(Permission::Manage);
        };
        if caller.viewer.is_admin {
            return Ok(Permission::Manage);
        }
        let record = self.store.registered_model_access(name).await?;
        if record.is_none() && self.store.get_registered_model(name).await.is_err() {
            return Ok(Permission::Manage);
        }
        Ok(permission(&caller.viewer, record.as_ref()))
    }

    /// Refuses unless the caller has `need` on a registered model.
    pub async fn registered_model(&self, name: &str, need: Permission) -> ApiResult<()> {
        let have = self.registered_model_permission(name).await?;
        if have >= need {
            Ok(())
        } else {
            Err(refusal(Target::RegisteredModel(name), have, need))
        }
    }

    /// Refuses unless the caller has `need` on every experiment whose artifact location holds
    /// `path`. A path in no experiment's location is for site administrators only.
    pub async fn path(&self, path: &ArtifactPath, need: Permission) -> ApiResult<()> {
        let Some(caller) = current() else {
            return Ok(());
        };
        if caller.viewer.is_admin {
            return Ok(());
        }
        let text = path.as_string();
        // Every prefix of the path, in the forms an `mlflow-artifacts:` location takes.
        let mut locations = Vec::new();
        let mut end = 0;
        for segment in text.split('/') {
            end += segment.len();
            let prefix = &text[..end];
            locations.extend([
                format!("{PROXY_SCHEME}/{prefix}"),
                format!("{PROXY_SCHEME}/{prefix}/"),
                format!("{PROXY_SCHEME}///{prefix}"),
            ]);
            end += 1;
        }
        let owners = self.store.experiments_with_locations(&locations).await?;
        if owners.is_empty() {
            return Err(Target::Path(&text).hidden());
        }
        let records = self.store.experiment_access(&owners).await?;
        for owner in &owners {
            let record = records.iter().find(|r| &r.experiment_id == owner);
            let have = permission(&caller.viewer, record);
            if have < need {
                return Err(refusal(Target::Path(&text), have, need));
            }
        }
        Ok(())
    }

    /// Those of these experiments the caller may read, in order (all without a caller).
    pub async fn readable(&self, experiment_ids: Vec<String>) -> ApiResult<Vec<String>> {
        let Some(caller) = current() else {
            return Ok(experiment_ids);
        };
        if caller.viewer.is_admin {
            return Ok(experiment_ids);
        }
        let records = self.store.experiment_access(&experiment_ids).await?;
        Ok(experiment_ids
            .into_iter()
            .filter(|id| {
                let record: Option<&ExperimentAccess> =
                    records.iter().find(|r| &r.experiment_id == id);
                permission(&caller.viewer, record) >= Permission::Read
            })
            .collect())
    }

    /// The access record of a new experiment, from the caller and the `cairn.team` and
    /// `cairn.visibility` tags (taken out of the tags, which are answered without them). A
    /// signed-in caller's experiment goes to the named team, where they must be at least a
    /// member, or to their personal team; with no caller it is common ground unless a team is
    /// named.
    pub async fn new_experiment_access(
        &self,
        mut tags: Vec<Tag>,
    ) -> ApiResult<(Option<ExperimentAccess>, Vec<Tag>)> {
        let mut take = |key: &str| {
            let found = tags.iter().position(|t| t.key == key)?;
            Some(tags.remove(found).value)
        };
        let team_name = take(TEAM_TAG);
        let visibility = match take(VISIBILITY_TAG) {
            None => Visibility::Team,
            Some(text) => parse_visibility(&text)?,
        };
        let caller = current();
        let team_id = match (&team_name, &caller) {
            (Some(name), _) => {
                let team = self.team_for(name, caller.as_deref(), Role::Member).await?;
                Some(team.id)
            }
            (None, Some(caller)) => Some(self.home_team(caller).await?.id),
            (None, None) => None,
        };
        let access = team_id.map(|team_id| ExperimentAccess {
            experiment_id: String::new(),
            team_id: Some(team_id),
            visibility,
            creator_id: caller.as_ref().map(|c| c.viewer.user_id),
            shares: Vec::new(),
        });
        Ok((access, tags))
    }

    /// The team named `name`, refused unless the caller has at least `role` in it (site
    /// administrators and callers-less work have every role). A team the caller is not in is
    /// answered as missing.
    pub async fn team_for(
        &self,
        name: &str,
        caller: Option<&Caller>,
        role: Role,
    ) -> ApiResult<Team> {
        let missing = || ApiError::not_found(format!("No team named '{name}'"));
        let team = self.store.team_by_name(name).await?.ok_or_else(missing)?;
        let Some(caller) = caller else {
            return Ok(team);
        };
        if caller.viewer.is_admin {
            return Ok(team);
        }
        match caller.viewer.teams.get(&team.id) {
            None => Err(missing()),
            Some(have) if *have < role => Err(ApiError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "This needs the {} role in team '{name}'; you are {}",
                    role.as_str(),
                    have.as_str()
                ),
            )),
            Some(_) => Ok(team),
        }
    }

    /// The caller's personal team, made on first use.
    pub async fn home_team(&self, caller: &Caller) -> ApiResult<Team> {
        let user_id = caller.viewer.user_id;
        if let Some(team) = self.store.personal_team(user_id).await? {
            return Ok(team);
        }
        let name = personal_team_name(&caller.username);
        match self
            .store
            .create_team(&name, user_id, true, crate::tracking::now_ms())
            .await
        {
            Ok(team) => Ok(team),
            // A concurrent request made it first.
            Err(error) => self
                .store
                .personal_team(user_id)
                .await?
                .ok_or_else(|| error.into()),
        }
    }

    /// The caller as experiment searches narrow to what they may read (`None`: no narrowing).
    pub fn search_viewer(&self) -> Option<cairn_core::access::Viewer> {
        current()
            .filter(|caller| !caller.viewer.is_admin)
            .map(|caller| caller.viewer.clone())
    }
}

/// A team as answered: its record, the caller's role, and its members (for those who may see
/// them).
#[derive(Debug, Clone)]
pub struct TeamView {
    pub team: Team,
    pub role: Option<Role>,
    pub members: Vec<Member>,
}

/// An experiment's access as answered, with team names resolved and what the caller may do.
#[derive(Debug, Clone)]
pub struct AccessView {
    pub experiment_id: String,
    pub team: Option<Team>,
    pub visibility: Visibility,
    pub creator: Option<String>,
    pub shares: Vec<(Team, ShareLevel)>,
    pub permission: Permission,
}

fn parse_visibility(text: &str) -> ApiResult<Visibility> {
    Visibility::parse(text).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid visibility '{text}': use private, team or public"
        ))
    })
}

fn needs_auth() -> ApiError {
    ApiError::invalid("Teams need authentication: start the server with --auth")
}

impl Access {
    fn signed_in() -> ApiResult<Arc<Caller>> {
        current().ok_or_else(needs_auth)
    }

    /// Creates a team with the caller as its owner.
    pub async fn create_team(&self, name: &str) -> ApiResult<TeamView> {
        let caller = Self::signed_in()?;
        check_team_name(name)?;
        let team = self
            .store
            .create_team(
                name,
                caller.viewer.user_id,
                false,
                crate::tracking::now_ms(),
            )
            .await?;
        Ok(TeamView {
            members: self.store.team_members(team.id).await?,
            role: Some(Role::Owner),
            team,
        })
    }

    /// The caller's teams with their role (every team for a site administrator).
    pub async fn list_teams(&self) -> ApiResult<Vec<(Team, Option<Role>)>> {
        let caller = Self::signed_in()?;
        self.home_team(&caller).await?;
        Ok(self
            .store
            .list_teams(caller.viewer.user_id, caller.viewer.is_admin)
            .await?)
    }

    /// A team and its members, for its members and site administrators.
    pub async fn team(&self, name: &str) -> ApiResult<TeamView> {
        let caller = Self::signed_in()?;
        let team = self.team_for(name, Some(&caller), Role::Viewer).await?;
        let members = self.store.team_members(team.id).await?;
        Ok(TeamView {
            role: caller.viewer.teams.get(&team.id).copied(),
            team,
            members,
        })
    }

    /// Deletes a team (its owners and site administrators; not a personal team, nor one that
    /// still owns experiments).
    pub async fn delete_team(&self, name: &str) -> ApiResult<()> {
        let caller = Self::signed_in()?;
        let team = self.team_for(name, Some(&caller), Role::Owner).await?;
        if team.personal_of.is_some() {
            return Err(ApiError::invalid(format!(
                "'{name}' is a personal team: it lasts as long as its user"
            )));
        }
        Ok(self.store.delete_team(team.id).await?)
    }

    /// Adds a member or changes their role (`Some`), or removes them (`None`). Team admins
    /// manage members and viewers; only owners grant, change or take away the owner role.
    /// Anyone may leave a team (`None` for themselves).
    pub async fn set_member(
        &self,
        name: &str,
        username: &str,
        role: Option<Role>,
    ) -> ApiResult<()> {
        let caller = Self::signed_in()?;
        let leaving = role.is_none() && username == caller.username;
        let needed = if leaving { Role::Viewer } else { Role::Admin };
        let team = self.team_for(name, Some(&caller), needed).await?;
        if team.personal_of.is_some() {
            return Err(ApiError::invalid(format!(
                "'{name}' is a personal team: it has only its user; make a team to work together"
            )));
        }
        let (user, _) = self
            .store
            .user_by_name(username)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("No user '{username}'")))?;
        let current_role = self
            .store
            .team_members(team.id)
            .await?
            .into_iter()
            .find(|m| m.user_id == user.id)
            .map(|m| m.role);
        let touches_owner = role == Some(Role::Owner) || current_role == Some(Role::Owner);
        let caller_role = caller.viewer.teams.get(&team.id).copied();
        if touches_owner && !leaving && !caller.viewer.is_admin && caller_role != Some(Role::Owner)
        {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                format!("Only owners of '{name}' grant, change or take away the owner role"),
            ));
        }
        if role.is_none() && current_role.is_none() {
            return Err(ApiError::not_found(format!(
                "'{username}' is not a member of '{name}'"
            )));
        }
        Ok(self.store.set_member(team.id, user.id, role).await?)
    }

    /// Who owns an experiment and who else may see it (for those who may read it).
    pub async fn experiment_access(&self, experiment_id: &str) -> ApiResult<AccessView> {
        self.experiment(experiment_id, Permission::Read).await?;
        self.store.get_experiment(experiment_id).await?;
        let permission = self.experiment_permission(experiment_id).await?;
        let record = self
            .store
            .experiment_access(&[experiment_id.to_string()])
            .await?
            .pop()
            .unwrap_or_default();
        let team = match record.team_id {
            Some(id) => self.store.team_by_id(id).await?,
            None => None,
        };
        let creator = match record.creator_id {
            Some(id) => self
                .store
                .list_users()
                .await?
                .into_iter()
                .find(|u| u.id == id)
                .map(|u| u.username),
            None => None,
        };
        let mut shares = Vec::new();
        for share in record.shares {
            if let Some(team) = self.store.team_by_id(share.team_id).await? {
                shares.push((team, share.level));
            }
        }
        Ok(AccessView {
            experiment_id: experiment_id.to_string(),
            team,
            visibility: record.visibility,
            creator,
            shares,
            permission,
        })
    }

    /// Moves an experiment to another team and/or changes its visibility (managers of the
    /// experiment; moving needs at least the member role in the team it goes to).
    pub async fn change_experiment_access(
        &self,
        experiment_id: &str,
        team: Option<&str>,
        visibility: Option<&str>,
    ) -> ApiResult<AccessView> {
        let caller = Self::signed_in()?;
        self.experiment(experiment_id, Permission::Manage).await?;
        let record = self
            .store
            .experiment_access(&[experiment_id.to_string()])
            .await?
            .pop();
        let (team_id, visibility, creator) = self
            .changed_owner(&caller, record, team, visibility)
            .await?;
        self.store
            .set_experiment_access(experiment_id, team_id, visibility, creator)
            .await?;
        self.experiment_access(experiment_id).await
    }

    /// The owning team, visibility and creator after a change of `team` and/or `visibility`
    /// (absent: as in `record`); the team it moves to needs at least the caller's member role.
    async fn changed_owner(
        &self,
        caller: &Caller,
        record: Option<ExperimentAccess>,
        team: Option<&str>,
        visibility: Option<&str>,
    ) -> ApiResult<(Option<i64>, Visibility, Option<i64>)> {
        let visibility = match visibility {
            Some(text) => parse_visibility(text)?,
            None => record.as_ref().map_or(Visibility::Team, |r| r.visibility),
        };
        let team_id = match team {
            Some(name) => Some(self.team_for(name, Some(caller), Role::Member).await?.id),
            None => record.as_ref().and_then(|r| r.team_id),
        };
        Ok((team_id, visibility, record.and_then(|r| r.creator_id)))
    }

    /// Shares an experiment with a team (`Some` level) or stops sharing (`None`); managers of
    /// the experiment only.
    pub async fn share_experiment(
        &self,
        experiment_id: &str,
        team: &str,
        level: Option<&str>,
    ) -> ApiResult<AccessView> {
        Self::signed_in()?;
        self.experiment(experiment_id, Permission::Manage).await?;
        let level = match level {
            Some(text) => Some(ShareLevel::parse(text).ok_or_else(|| {
                ApiError::invalid(format!("Invalid share level '{text}': use read or write"))
            })?),
            None => None,
        };
        let target = self
            .store
            .team_by_name(team)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("No team named '{team}'")))?;
        self.store
            .set_share(experiment_id, target.id, level)
            .await?;
        self.experiment_access(experiment_id).await
    }
}

/// A registered model's access as answered.
#[derive(Debug, Clone)]
pub struct ModelAccessView {
    pub name: String,
    pub team: Option<Team>,
    pub visibility: Visibility,
    pub permission: Permission,
}

impl Access {
    /// Who owns a registered model and who else may see it (for those who may read it).
    pub async fn model_access(&self, name: &str) -> ApiResult<ModelAccessView> {
        self.registered_model(name, Permission::Read).await?;
        self.store.get_registered_model(name).await?;
        let permission = self.registered_model_permission(name).await?;
        let record = self
            .store
            .registered_model_access(name)
            .await?
            .unwrap_or_default();
        let team = match record.team_id {
            Some(id) => self.store.team_by_id(id).await?,
            None => None,
        };
        Ok(ModelAccessView {
            name: name.to_string(),
            team,
            visibility: record.visibility,
            permission,
        })
    }

    /// Moves a registered model to another team and/or changes its visibility (its managers;
    /// moving needs at least the member role in the team it goes to).
    pub async fn change_model_access(
        &self,
        name: &str,
        team: Option<&str>,
        visibility: Option<&str>,
    ) -> ApiResult<ModelAccessView> {
        let caller = Self::signed_in()?;
        self.registered_model(name, Permission::Manage).await?;
        self.store.get_registered_model(name).await?;
        let record = self.store.registered_model_access(name).await?;
        let (team_id, visibility, creator) = self
            .changed_owner(&caller, record, team, visibility)
            .await?;
        self.store
            .set_registered_model_access(name, team_id, visibility, creator)
            .await?;
        self.model_access(name).await
    }
}
