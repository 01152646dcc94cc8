//! Who may do what with an experiment: teams and their roles, an experiment's owning team and
//! visibility, its shares with other teams, and [`permission`], the one function that decides.
//!
//! The rules (site administrators may do everything):
//! - An experiment with no owning team (made while authentication was off, and the Default
//!   experiment) is common ground: every signed-in user reads and writes it; only site
//!   administrators manage it (move it into a team, delete, rename).
//! - In the owning team, `owner` and `admin` manage every experiment; the experiment's creator
//!   manages it while they are at least a `member` of the team.
//! - `team` and `public` visibility: the team's `member`s write, its `viewer`s read.
//!   `private`: only the creator and the team's owners and admins (and shares, below).
//! - `public`: every signed-in user reads.
//! - A share with another team grants its members (`member` and up) the share's level, `read` or
//!   `write`; that team's viewers read. Shares apply whatever the visibility.
//!
//! A caller with no permission at all must not learn that the experiment exists (answer 404),
//! one who may read but not write gets a 403.

use std::collections::HashMap;

use crate::validation::ValidationError;

/// Longest team name.
pub const MAX_TEAM_NAME_LENGTH: usize = 64;
/// Personal teams are named after their user with this prefix, which other names cannot start with.
pub const PERSONAL_PREFIX: char = '~';

/// A member's role in a team, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads the team's experiments.
    Viewer,
    /// Also creates experiments in the team and writes to them.
    Member,
    /// Also manages every experiment of the team and the team's members (not its owners).
    Admin,
    /// Also manages owners and deletes the team.
    Owner,
}

/// Who may see an experiment besides site administrators and its shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Visibility {
    /// The creator and the owning team's owners and admins.
    Private,
    /// The owning team (by role).
    #[default]
    Team,
    /// The owning team by role, and every signed-in user reads.
    Public,
}

/// What a share with another team grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareLevel {
    Read,
    Write,
}

/// What a caller may do with an experiment, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Nothing, not even learning that it exists.
    None,
    /// Get, search, download, subscribe, comment.
    Read,
    /// Also create and change runs, models, tags and files.
    Write,
    /// Also rename, delete, restore, change visibility, owning team and shares.
    Manage,
}

macro_rules! text_enum {
    ($type:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(Role { Viewer => "viewer", Member => "member", Admin => "admin", Owner => "owner" });
text_enum!(Visibility { Private => "private", Team => "team", Public => "public" });
text_enum!(ShareLevel { Read => "read", Write => "write" });
text_enum!(Permission { None => "none", Read => "read", Write => "write", Manage => "manage" });

/// A team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// The user whose personal team this is.
    pub personal_of: Option<i64>,
    pub created: i64,
}

/// A user's place in a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

/// A share of an experiment with a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub team_id: i64,
    pub level: ShareLevel,
}

/// Who owns an experiment and who else may see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExperimentAccess {
    pub experiment_id: String,
    /// `None`: common ground (see the module's rules).
    pub team_id: Option<i64>,
    pub visibility: Visibility,
    pub creator_id: Option<i64>,
    pub shares: Vec<Share>,
}

/// The signed-in caller as the rules need them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Viewer {
    pub user_id: i64,
    pub is_admin: bool,
    /// Team id → the caller's role in it.
    pub teams: HashMap<i64, Role>,
}

/// What `viewer` may do with an experiment whose access record is `access` (`None`: the
/// experiment has none, i.e. it is common ground).
pub fn permission(viewer: &Viewer, access: Option<&ExperimentAccess>) -> Permission {
    if viewer.is_admin {
        return Permission::Manage;
    }
    let Some(access) = access else {
        return Permission::Write;
    };
    let Some(team) = access.team_id else {
        return Permission::Write;
    };
    let mut best = match access.visibility {
        Visibility::Public => Permission::Read,
        Visibility::Team | Visibility::Private => Permission::None,
    };
    if let Some(&role) = viewer.teams.get(&team) {
        let own = match role {
            Role::Owner | Role::Admin => Permission::Manage,
            Role::Member if access.creator_id == Some(viewer.user_id) => Permission::Manage,
            _ if access.visibility == Visibility::Private => Permission::None,
            Role::Member => Permission::Write,
            Role::Viewer => Permission::Read,
        };
        best = best.max(own);
    }
    for share in &access.shares {
        if let Some(&role) = viewer.teams.get(&share.team_id) {
            let granted = match (share.level, role) {
                (ShareLevel::Write, Role::Member | Role::Admin | Role::Owner) => Permission::Write,
                _ => Permission::Read,
            };
            best = best.max(granted);
        }
    }
    best
}

/// Team names: like usernames (letters, digits, `.`, `_`, `-`, starting with a letter or digit);
/// personal teams are `~username`.
pub fn check_team_name(name: &str) -> Result<(), ValidationError> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= MAX_TEAM_NAME_LENGTH
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(format!(
            "Invalid team name '{name}': use 1 to {MAX_TEAM_NAME_LENGTH} letters, digits, '.', '_' \
             or '-', starting with a letter or digit"
        )))
    }
}

/// The name of a user's personal team.
pub fn personal_team_name(username: &str) -> String {
    format!("{PERSONAL_PREFIX}{username}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: i64 = 1;
    const OTHER: i64 = 2;
    const CREATOR: i64 = 10;

    fn viewer(user_id: i64, teams: &[(i64, Role)]) -> Viewer {
        Viewer {
            user_id,
            is_admin: false,
            teams: teams.iter().copied().collect(),
        }
    }

    fn access(visibility: Visibility, share: Option<ShareLevel>) -> ExperimentAccess {
        ExperimentAccess {
            experiment_id: "1".into(),
            team_id: Some(TEAM),
            visibility,
            creator_id: Some(CREATOR),
            shares: share
                .map(|level| Share {
                    team_id: OTHER,
                    level,
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn roles_in_the_owning_team() {
        use Permission as P;
        use Visibility as V;
        let cases = [
            (Role::Owner, V::Private, P::Manage),
            (Role::Admin, V::Private, P::Manage),
            (Role::Member, V::Private, P::None),
            (Role::Viewer, V::Private, P::None),
            (Role::Member, V::Team, P::Write),
            (Role::Viewer, V::Team, P::Read),
            (Role::Member, V::Public, P::Write),
            (Role::Viewer, V::Public, P::Read),
        ];
        for (role, visibility, expected) in cases {
            let got = permission(
                &viewer(20, &[(TEAM, role)]),
                Some(&access(visibility, None)),
            );
            assert_eq!(got, expected, "{role:?} on {visibility:?}");
        }
    }

    #[test]
    fn creators_outsiders_shares_and_admins() {
        let private = access(Visibility::Private, None);
        assert_eq!(
            permission(&viewer(CREATOR, &[(TEAM, Role::Member)]), Some(&private)),
            Permission::Manage
        );
        assert_eq!(
            permission(&viewer(CREATOR, &[(TEAM, Role::Viewer)]), Some(&private)),
            Permission::None,
            "a creator demoted to viewer keeps no private access"
        );
        assert_eq!(
            permission(&viewer(CREATOR, &[]), Some(&private)),
            Permission::None,
            "a creator who left the team keeps nothing"
        );
        let outsider = viewer(30, &[(OTHER, Role::Member)]);
        assert_eq!(
            permission(&outsider, Some(&access(Visibility::Team, None))),
            Permission::None
        );
        assert_eq!(
            permission(&outsider, Some(&access(Visibility::Public, None))),
            Permission::Read
        );
        let shared_write = access(Visibility::Private, Some(ShareLevel::Write));
        assert_eq!(
            permission(&outsider, Some(&shared_write)),
            Permission::Write
        );
        assert_eq!(
            permission(&viewer(31, &[(OTHER, Role::Viewer)]), Some(&shared_write)),
            Permission::Read
        );
        assert_eq!(
            permission(
                &outsider,
                Some(&access(Visibility::Team, Some(ShareLevel::Read)))
            ),
            Permission::Read
        );
        let admin = Viewer {
            is_admin: true,
            ..viewer(40, &[])
        };
        assert_eq!(permission(&admin, Some(&private)), Permission::Manage);
        let common = ExperimentAccess {
            team_id: None,
            ..private
        };
        assert_eq!(
            permission(&viewer(50, &[]), Some(&common)),
            Permission::Write
        );
        assert_eq!(permission(&viewer(50, &[]), None), Permission::Write);
    }

    #[test]
    fn names_and_words() {
        assert!(check_team_name("ml-research.v2").is_ok());
        for bad in ["", "~ada", "a b", "x/y", &"a".repeat(65)] {
            assert!(check_team_name(bad).is_err(), "{bad}");
        }
        assert_eq!(personal_team_name("ada"), "~ada");
        for role in [Role::Viewer, Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Visibility::parse("public"), Some(Visibility::Public));
        assert_eq!(ShareLevel::parse("admin"), None);
        assert!(Role::Viewer < Role::Owner && Permission::Read < Permission::Manage);
    }
}
