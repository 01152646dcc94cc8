// Tests of the teams pages' and access panel's rules.
import { describe, expect, it } from "vitest";
import type { ExperimentAccess, Team } from "../../api/client";
import {
  assignableRoles,
  describePermission,
  mayChangeRole,
  mayDeleteTeam,
  mayRemove,
  managesMembers,
  moveTargetNames,
  roleRank,
  sortMembers,
  sortTeams,
  teamsToMoveTo,
  teamsToShareWith,
  validTeamName,
  type Actor,
} from "./rules";

const team = (name: string, role: Team["role"], personal = false): Team => ({ name, personal, created: 0, role });
const actor = (role: Actor["role"], siteAdmin = false, username = "me"): Actor => ({ username, role, siteAdmin });

describe("roleRank", () => {
  it("orders roles weakest first and none below all", () => {
    expect(roleRank(null)).toBe(-1);
    expect(roleRank("viewer")).toBeLessThan(roleRank("member"));
    expect(roleRank("admin")).toBeLessThan(roleRank("owner"));
  });
});

describe("member management", () => {
  const t = team("vision", "admin");
  it("is for admins, owners and site admins, never in personal teams", () => {
    expect(managesMembers(t, actor("member"))).toBe(false);
    expect(managesMembers(t, actor("admin"))).toBe(true);
    expect(managesMembers(t, actor(null, true))).toBe(true);
    expect(managesMembers(team("~me", "owner", true), actor("owner"))).toBe(false);
  });
  it("lets only owners and site admins give the owner role", () => {
    expect(assignableRoles(t, actor("admin"))).toEqual(["viewer", "member", "admin"]);
    expect(assignableRoles(t, actor("owner"))).toEqual(["viewer", "member", "admin", "owner"]);
    expect(assignableRoles(t, actor(null, true))).toContain("owner");
    expect(assignableRoles(t, actor("viewer"))).toEqual([]);
  });
  it("lets only owners touch owners", () => {
    const owner = { username: "o", role: "owner" as const };
    const member = { username: "m", role: "member" as const };
    expect(mayChangeRole(t, actor("admin"), owner)).toBe(false);
    expect(mayChangeRole(t, actor("admin"), member)).toBe(true);
    expect(mayChangeRole(t, actor("owner"), owner)).toBe(true);
    expect(mayRemove(t, actor("admin"), owner)).toBe(false);
    expect(mayRemove(t, actor("viewer"), member)).toBe(false);
  });
  it("lets anyone leave a team but not a personal one", () => {
    expect(mayRemove(t, actor("viewer", false, "v"), { username: "v", role: "viewer" })).toBe(true);
    expect(mayRemove(team("~v", "owner", true), actor("owner", false, "v"), { username: "v", role: "owner" })).toBe(false);
  });
  it("lets owners and site admins delete teams other than personal ones", () => {
    expect(mayDeleteTeam(t, actor("admin"))).toBe(false);
    expect(mayDeleteTeam(t, actor("owner"))).toBe(true);
    expect(mayDeleteTeam(t, actor(null, true))).toBe(true);
    expect(mayDeleteTeam(team("~me", "owner", true), actor("owner"))).toBe(false);
  });
});

describe("sorting", () => {
  it("puts strong roles first, then names", () => {
    const sorted = sortMembers([
      { username: "b", role: "member" },
      { username: "z", role: "owner" },
      { username: "a", role: "member" },
    ]);
    expect(sorted.map((m) => m.username)).toEqual(["z", "a", "b"]);
  });
  it("puts the personal team first", () => {
    expect(sortTeams([team("b", "owner"), team("~me", "owner", true), team("a", "viewer")]).map((t) => t.name)).toEqual([
      "~me",
      "a",
      "b",
    ]);
  });
});

describe("experiment access choices", () => {
  const teams = [team("~me", "owner", true), team("vision", "member"), team("nlp", "viewer"), team("ops", null)];
  const access: ExperimentAccess = {
    experiment_id: "1",
    team: "vision",
    visibility: "team",
    creator: "me",
    shares: [{ team: "nlp", level: "read" }],
    permission: "manage",
  };
  it("moves only to teams where the caller is at least a member (any for site admins)", () => {
    expect(teamsToMoveTo(teams, false).map((t) => t.name)).toEqual(["~me", "vision"]);
    expect(teamsToMoveTo(teams, true)).toHaveLength(4);
  });
  it("shares only with teams neither owning nor already sharing it", () => {
    expect(teamsToShareWith(teams, access).map((t) => t.name)).toEqual(["~me", "ops"]);
  });
  it("describes permissions", () => {
    expect(describePermission("manage")).toMatch(/manage/);
    expect(describePermission("none")).toMatch(/no access/);
  });
  it("describes permissions on a registered model", () => {
    expect(describePermission("manage", "model")).toBe("You manage this model.");
    expect(describePermission("read", "model")).toBe("You may read this model.");
    expect(describePermission("write")).toBe("You may read and write this experiment.");
  });
});

describe("moveTargetNames", () => {
  const teams = [team("vision", "member"), team("ops", "viewer"), team("~me", "owner", true), team("ml", null)];
  it("offers the teams where the caller is a member, personal first", () => {
    expect(moveTargetNames(teams, false, "vision")).toEqual(["~me", "vision"]);
  });
  it("keeps the current team first when the caller could not move there", () => {
    expect(moveTargetNames(teams, false, "ops")).toEqual(["ops", "~me", "vision"]);
  });
  it("adds nothing for common ground", () => {
    expect(moveTargetNames(teams, false, null)).toEqual(["~me", "vision"]);
  });
  it("offers every team to a site admin", () => {
    expect(moveTargetNames(teams, true, null)).toEqual(["~me", "ml", "ops", "vision"]);
  });
  it("offers nothing but the current team without teams", () => {
    expect(moveTargetNames([], false, "~ada")).toEqual(["~ada"]);
  });
});

describe("validTeamName", () => {
  it("follows the server's rule", () => {
    expect(validTeamName("vision-2.0_x")).toBe(true);
    expect(validTeamName("")).toBe(false);
    expect(validTeamName("~me")).toBe(false);
    expect(validTeamName("-x")).toBe(false);
    expect(validTeamName("a".repeat(64))).toBe(true);
    expect(validTeamName("a".repeat(65))).toBe(false);
    expect(validTeamName("has space")).toBe(false);
  });
});
