// The experiment's access (authentication on): its owning team, visibility, creator, shares and
// what the caller may do; its managers change the team and visibility and add or remove shares.
import { useState } from "preact/hooks";
import { api, currentUser, type ExperimentAccess, type ShareLevel } from "../../api/client";
import { ErrorBox, Loading } from "../../components/common";
import { useAsync } from "../run/hooks";
import { OwnerRows } from "./OwnerRows";
import { describePermission, moveTargetNames, teamsToShareWith } from "./rules";
import "./teams.css";

const LEVELS: ShareLevel[] = ["read", "write"];

export function AccessPanel(props: { experimentId: string }) {
  const access = useAsync((signal) => api.experimentAccess(props.experimentId, signal), [props.experimentId]);
  const manage = access.data?.access.permission === "manage";
  const teams = useAsync((signal) => (manage ? api.teams(signal) : Promise.resolve({ teams: [] })), [manage]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (!access.data) {
    return (
      <div class="access-panel" data-testid="access-panel">
        {access.error ? <ErrorBox error={access.error} /> : <Loading what="access" />}
      </div>
    );
  }
  const a = access.data.access;
  const siteAdmin = !!currentUser()?.is_admin;
  const change = (p: Promise<{ access: ExperimentAccess }>) => {
    setBusy(true);
    setError(null);
    p.then((answer) => access.set(answer))
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const allTeams = teams.data?.teams ?? [];
  const moveTargets = moveTargetNames(allTeams, siteAdmin, a.team);
  const shareTargets = teamsToShareWith(allTeams, a).map((t) => t.name);
  return (
    <div class="access-panel" data-testid="access-panel">
      <p class="muted" data-testid="access-permission" data-permission={a.permission}>
        {describePermission(a.permission)}
      </p>
      <OwnerRows
        team={a.team}
        visibility={a.visibility}
        manage={manage}
        moveTargets={moveTargets}
        busy={busy}
        onChange={(next) => change(api.changeExperimentAccess(props.experimentId, next))}
      />
      <div class="access-row">
        <span class="label">Creator</span>
        <span>{a.creator ?? <span class="muted">—</span>}</span>
      </div>
      <h4>Shared with</h4>
      {a.shares.length === 0 ? (
        <span class="muted">No other team.</span>
      ) : (
        <ul class="access-shares" data-testid="access-shares">
          {a.shares.map((s) => (
            <li key={s.team} data-team={s.team}>
              <span class="name">{s.team}</span>
              {manage ? (
                <>
                  <select
                    aria-label={`Share level for ${s.team}`}
                    value={s.level}
                    disabled={busy}
                    onChange={(e) =>
                      change(api.shareExperiment(props.experimentId, s.team, e.currentTarget.value as ShareLevel))
                    }
                  >
                    {LEVELS.map((l) => (
                      <option key={l} value={l}>
                        {l}
                      </option>
                    ))}
                  </select>
                  <button
                    class="ghost danger"
                    disabled={busy}
                    onClick={() => change(api.unshareExperiment(props.experimentId, s.team))}
                  >
                    Remove
                  </button>
                </>
              ) : (
                <span class="muted">{s.level}</span>
              )}
            </li>
          ))}
        </ul>
      )}
      {manage && (
        <AddShare
          teams={shareTargets}
          busy={busy}
          onShare={(team, level) => change(api.shareExperiment(props.experimentId, team, level))}
        />
      )}
      <ErrorBox error={error ?? teams.error} />
    </div>
  );
}

function AddShare(props: { teams: string[]; busy: boolean; onShare: (team: string, level: ShareLevel) => void }) {
  const [team, setTeam] = useState("");
  const [level, setLevel] = useState<ShareLevel>("read");
  const submit = (e: Event) => {
    e.preventDefault();
    if (!team.trim()) return;
    props.onShare(team.trim(), level);
    setTeam("");
  };
  return (
    <form class="access-row" onSubmit={submit} data-testid="add-share">
      <input
        aria-label="Team to share with"
        placeholder="Team name"
        list="access-share-teams"
        value={team}
        onInput={(e) => setTeam((e.currentTarget as HTMLInputElement).value)}
      />
      <datalist id="access-share-teams">
        {props.teams.map((t) => (
          <option key={t} value={t} />
        ))}
      </datalist>
      <select aria-label="Share level" value={level} onChange={(e) => setLevel(e.currentTarget.value as ShareLevel)}>
        {LEVELS.map((l) => (
          <option key={l} value={l}>
            {l}
          </option>
        ))}
      </select>
      <button class="primary" type="submit" disabled={props.busy || !team.trim()}>
        Share
      </button>
    </form>
  );
}
