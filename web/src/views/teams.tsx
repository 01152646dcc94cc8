// The teams pages (authentication on): `/teams` lists the caller's teams and makes new ones,
// `/teams/:name` shows a team's members with their roles, adds, changes and removes members, and
// deletes the team. The server decides what is allowed; ./teams/rules.ts hides what is not.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, currentUser, type Team, type TeamMember, type TeamRole } from "../api/client";
import { ErrorBox, Link, Loading } from "../components/common";
import { formatTime } from "../format";
import { navigate } from "../router";
import { useAsync } from "./run/hooks";
import {
  assignableRoles,
  mayChangeRole,
  mayDeleteTeam,
  mayRemove,
  sortMembers,
  sortTeams,
  validTeamName,
  type Actor,
} from "./teams/rules";
import "./lineage/lineage.css";
import "./teams/teams.css";

const teamHref = (name: string) => `/teams/${encodeURIComponent(name)}`;

export function TeamsPage() {
  const teams = useAsync((signal) => api.teams(signal), []);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = "Teams · Cairn";
  }, []);
  const create = (e: Event) => {
    e.preventDefault();
    const trimmed = name.trim();
    setBusy(true);
    setError(null);
    api
      .createTeam(trimmed)
      .then((answer) => navigate(teamHref(answer.team.name)))
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const list = sortTeams(teams.data?.teams ?? []);
  const trimmed = name.trim();
  return (
    <div class="page">
      <h1>Teams</h1>
      <form class="teams-form" onSubmit={create} data-testid="create-team">
        <input
          aria-label="New team name"
          placeholder="New team name"
          value={name}
          maxLength={64}
          onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
        />
        <button class="primary" type="submit" disabled={busy || !validTeamName(trimmed)}>
          Create team
        </button>
        {trimmed && !validTeamName(trimmed) && (
          <span class="muted">Letters, digits, “.”, “_” and “-”, starting with a letter or digit.</span>
        )}
      </form>
      <ErrorBox error={error} />
      <ErrorBox error={teams.error} />
      {!teams.data && !teams.error ? (
        <Loading what="teams" />
      ) : (
        teams.data && (
          <table class="md-table" data-testid="teams-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Your role</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <tr key={t.name} data-testid="team-row" data-name={t.name}>
                  <td>
                    <Link href={teamHref(t.name)}>{t.name}</Link>
                    {t.personal && <span class="badge teams-personal">personal</span>}
                  </td>
                  <td>{t.role ?? <span class="muted">—</span>}</td>
                  <td class="muted">{formatTime(t.created)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
    </div>
  );
}

export function TeamPage(props: { name: string }) {
  const team = useAsync((signal) => api.team(props.name, signal), [props.name]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = `${props.name} · Teams · Cairn`;
  }, [props.name]);
  if (team.error && !team.data) {
    const missing = team.error instanceof ApiError && team.error.status === 404;
    return (
      <div class="page">
        <h1>{missing ? "Team not found" : "Could not load the team"}</h1>
        {missing ? (
          <p>
            There is no team <code>{props.name}</code> that you are in. <Link href="/teams">Teams</Link>
          </p>
        ) : (
          <ErrorBox error={team.error} />
        )}
      </div>
    );
  }
  if (!team.data) return <Loading what="the team" />;
  const t = team.data.team;
  const user = currentUser();
  const actor: Actor = { username: user?.username ?? null, role: t.role, siteAdmin: !!user?.is_admin };
  const roles = assignableRoles(t, actor);
  // The caller's own role in an answer is the one they had when asking: reload after changing it.
  const update = (p: Promise<{ team: Team }>, username: string) => {
    setError(null);
    p.then((answer) => (username === actor.username ? team.reload() : team.set(answer))).catch(setError);
  };
  const remove = (member: TeamMember) => {
    const leaving = member.username === actor.username;
    const question = leaving ? `Leave the team “${t.name}”?` : `Remove ${member.username} from “${t.name}”?`;
    if (!confirm(question)) return;
    setError(null);
    api
      .removeTeamMember(t.name, member.username)
      .then(() => (leaving && !actor.siteAdmin ? navigate("/teams") : team.reload()))
      .catch(setError);
  };
  const deleteTeam = () => {
    if (!confirm(`Delete the team “${t.name}”? Its experiments must have moved to another team first.`)) return;
    setError(null);
    api
      .deleteTeam(t.name)
      .then(() => navigate("/teams"))
      .catch(setError);
  };
  const members = sortMembers(t.members ?? []);
  return (
    <div class="page">
      <div class="teams-crumbs">
        <Link href="/teams">Teams</Link>
        <span class="muted"> / </span>
      </div>
      <div class="md-header">
        <h1 data-testid="team-name">{t.name}</h1>
        {t.personal && <span class="badge teams-personal">personal</span>}
        {t.role && <span class="muted">your role: {t.role}</span>}
        <span class="spacer" />
        {mayDeleteTeam(t, actor) && (
          <button class="danger" onClick={deleteTeam} data-testid="delete-team">
            Delete team
          </button>
        )}
      </div>
      {t.personal && <p class="muted">Your personal team holds your own experiments; make a team to work together.</p>}
      <ErrorBox error={error} />
      <h2>
        Members <span class="teams-count">{members.length}</span>
      </h2>
      <table class="md-table" data-testid="members-table">
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr key={m.username} data-testid="member-row" data-username={m.username}>
              <td>{m.username}</td>
              <td>
                {mayChangeRole(t, actor, m) ? (
                  <RoleSelect
                    value={m.role}
                    roles={roles}
                    label={`Role of ${m.username}`}
                    onChange={(role) => update(api.setTeamMember(t.name, m.username, role), m.username)}
                  />
                ) : (
                  m.role
                )}
              </td>
              <td class="teams-actions">
                {mayRemove(t, actor, m) && (
                  <button class="ghost danger" onClick={() => remove(m)}>
                    {m.username === actor.username ? "Leave" : "Remove"}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {roles.length > 0 && <AddMember roles={roles} onAdd={(username, role) => update(api.setTeamMember(t.name, username, role), username)} />}
    </div>
  );
}

function RoleSelect(props: { value: TeamRole; roles: TeamRole[]; label: string; onChange: (role: TeamRole) => void }) {
  // A role the caller may not give (an owner seen by an admin) still shows as the current value.
  const options = props.roles.includes(props.value) ? props.roles : [props.value, ...props.roles];
  return (
    <select aria-label={props.label} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value as TeamRole)}>
      {options.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}

function AddMember(props: { roles: TeamRole[]; onAdd: (username: string, role: TeamRole) => void }) {
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<TeamRole>("member");
  const submit = (e: Event) => {
    e.preventDefault();
    props.onAdd(username.trim(), role);
    setUsername("");
  };
  return (
    <form class="teams-form" onSubmit={submit} data-testid="add-member">
      <input
        aria-label="Username to add"
        placeholder="Username"
        value={username}
        onInput={(e) => setUsername((e.currentTarget as HTMLInputElement).value)}
      />
      <RoleSelect value={role} roles={props.roles} label="Role to give" onChange={setRole} />
      <button class="primary" type="submit" disabled={!username.trim()}>
        Add member
      </button>
    </form>
  );
}
