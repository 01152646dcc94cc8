// What the teams pages and the access panels of experiments and registered models may offer,
// mirroring the server's rules (crates/cairn-core/src/access.rs); the server decides, these only
// keep pointless controls away.
import type { ExperimentAccess, Team, TeamMember, TeamRole } from "../../api/client";

/** Team roles, weakest first. */
export const ROLES: readonly TeamRole[] = ["viewer", "member", "admin", "owner"];

/** The caller as these rules need them: their role in the team and whether they are a site admin. */
export type Actor = { username: string | null; role: TeamRole | null | undefined; siteAdmin: boolean };

/** The rank of a role (-1 for none), for comparing roles. */
export function roleRank(role: TeamRole | null | undefined): number {
  return role ? ROLES.indexOf(role) : -1;
}

/** Whether the actor may add members and change or remove non-owners (team admins and up). */
export function managesMembers(team: Team, actor: Actor): boolean {
  if (team.personal) return false;
  return actor.siteAdmin || roleRank(actor.role) >= roleRank("admin");
}

/** The roles the actor may give (only owners and site admins give the owner role). */
export function assignableRoles(team: Team, actor: Actor): TeamRole[] {
  if (!managesMembers(team, actor)) return [];
  if (actor.siteAdmin || actor.role === "owner") return [...ROLES];
  return ROLES.filter((r) => r !== "owner");
}

/** Whether the actor may change `member`'s role (owners' roles only by owners and site admins). */
export function mayChangeRole(team: Team, actor: Actor, member: TeamMember): boolean {
  if (!managesMembers(team, actor)) return false;
  return member.role !== "owner" || actor.siteAdmin || actor.role === "owner";
}

/** Whether the actor may remove `member`: as for a role change, and anyone may leave. */
export function mayRemove(team: Team, actor: Actor, member: TeamMember): boolean {
  if (team.personal) return false;
  if (actor.username !== null && member.username === actor.username) return true;
  return mayChangeRole(team, actor, member);
}

/** Whether the actor may delete the team (its owners and site admins; never a personal team). */
export function mayDeleteTeam(team: Team, actor: Actor): boolean {
  return !team.personal && (actor.siteAdmin || actor.role === "owner");
}

/** Members strongest role first, then by name. */
export function sortMembers(members: readonly TeamMember[]): TeamMember[] {
  return [...members].sort((a, b) => roleRank(b.role) - roleRank(a.role) || a.username.localeCompare(b.username));
}

/** Teams personal ones first, then by name. */
export function sortTeams(teams: readonly Team[]): Team[] {
  return [...teams].sort((a, b) => Number(b.personal) - Number(a.personal) || a.name.localeCompare(b.name));
}

/** Teams an experiment may move to: those where the actor is at least a member. */
export function teamsToMoveTo(teams: readonly Team[], siteAdmin: boolean): Team[] {
  return sortTeams(teams.filter((t) => siteAdmin || roleRank(t.role) >= roleRank("member")));
}

/** Teams an experiment could still be shared with (not its owner, not already shared). */
export function teamsToShareWith(teams: readonly Team[], access: ExperimentAccess): Team[] {
  const taken = new Set([access.team, ...access.shares.map((s) => s.team)]);
  return sortTeams(teams.filter((t) => !taken.has(t.name)));
}

/**
 * The names of the teams an experiment or registered model owned by `current` may be offered to
 * move to: those of `teamsToMoveTo`, with the current team first if the caller is not a member.
 */
export function moveTargetNames(teams: readonly Team[], siteAdmin: boolean, current: string | null): string[] {
  const names = teamsToMoveTo(teams, siteAdmin).map((t) => t.name);
  if (current && !names.includes(current)) names.unshift(current);
  return names;
}

/** A short sentence for the caller's permission on an experiment (or, with `what`, a registered model). */
export function describePermission(
  permission: ExperimentAccess["permission"],
  what: "experiment" | "model" = "experiment",
): string {
  switch (permission) {
    case "manage":
      return `You manage this ${what}.`;
    case "write":
      return `You may read and write this ${what}.`;
    case "read":
      return `You may read this ${what}.`;
    default:
      return `You have no access to this ${what}.`;
  }
}

/** Whether a team name is acceptable to the server (1 to 64 of A-Z a-z 0-9 . _ -, first alphanumeric). */
export function validTeamName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name);
}
