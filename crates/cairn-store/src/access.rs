//! Storage of who may do what: teams, their members' roles, each experiment's owning team,
//! visibility and creator, and its shares with other teams. The rules that turn these into a
//! permission live in `cairn_core::access`; a backend only has to apply the same rules in
//! [`crate::ExperimentSearch::readable_by`] (the conformance suite checks that it does).

use async_trait::async_trait;
use cairn_core::access::{ExperimentAccess, Member, Role, ShareLevel, Team, Visibility};
use cairn_core::model::Tag;
use cairn_core::registry::RegisteredModel;

use crate::Result;

#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// Creates a team whose first member, `owner`, is its owner; `personal` makes it that
    /// user's personal team. `AlreadyExists` when the name is taken or the user already has a
    /// personal team.
    async fn create_team(&self, name: &str, owner: i64, personal: bool, now: i64) -> Result<Team>;
    async fn team_by_name(&self, name: &str) -> Result<Option<Team>>;
    async fn team_by_id(&self, id: i64) -> Result<Option<Team>>;
    /// The user's personal team, if made.
    async fn personal_team(&self, user_id: i64) -> Result<Option<Team>>;
    /// Teams by name with the user's role in each: those they belong to, or every team (role
    /// `None` where they are not a member) when `all`.
    async fn list_teams(&self, user_id: i64, all: bool) -> Result<Vec<(Team, Option<Role>)>>;
    /// Deletes a team with its memberships and the shares made with it; `InvalidArgument` while
    /// an experiment belongs to it.
    async fn delete_team(&self, team_id: i64) -> Result<()>;
    /// Members by username.
    async fn team_members(&self, team_id: i64) -> Result<Vec<Member>>;
    /// Adds or changes (`Some`) or removes (`None`) a membership; `InvalidArgument` when that
    /// would leave the team without an owner.
    async fn set_member(&self, team_id: i64, user_id: i64, role: Option<Role>) -> Result<()>;
    /// The teams a user belongs to, with their role.
    async fn memberships(&self, user_id: i64) -> Result<Vec<(i64, Role)>>;

    /// The access records (with shares) of those of these experiments that have one.
    async fn experiment_access(&self, experiment_ids: &[String]) -> Result<Vec<ExperimentAccess>>;
    /// Sets an experiment's owning team (`None`: common ground), visibility and creator,
    /// keeping its shares; `NotFound` for an unknown experiment.
    async fn set_experiment_access(
        &self,
        experiment_id: &str,
        team_id: Option<i64>,
        visibility: Visibility,
        creator_id: Option<i64>,
    ) -> Result<()>;
    /// Shares an experiment with a team at a level, or stops sharing (`None`).
    async fn set_share(
        &self,
        experiment_id: &str,
        team_id: i64,
        level: Option<ShareLevel>,
    ) -> Result<()>;
    /// Creates a registered model owned as `owner` says (its team, visibility and creator; the
    /// id field is ignored), in one transaction with its access record.
    async fn create_registered_model_owned(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<Tag>,
        now: i64,
        owner: ExperimentAccess,
    ) -> Result<RegisteredModel>;
    /// A registered model's owning team, visibility and creator (`experiment_id` holds its
    /// name; no shares); `None` for a model without a record (common ground).
    async fn registered_model_access(&self, name: &str) -> Result<Option<ExperimentAccess>>;
    /// Sets a registered model's owning team, visibility and creator.
    async fn set_registered_model_access(
        &self,
        name: &str,
        team_id: Option<i64>,
        visibility: Visibility,
        creator_id: Option<i64>,
    ) -> Result<()>;
    /// The experiments whose artifact location is one of these URIs.
    async fn experiments_with_locations(&self, locations: &[String]) -> Result<Vec<String>>;
}
