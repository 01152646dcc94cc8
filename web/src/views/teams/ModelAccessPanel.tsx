// A registered model's access (authentication on): its owning team, visibility and what the caller
// may do; its managers move it to another of their teams and change its visibility. Registered
// models have no shares.
import { useState } from "preact/hooks";
import { api, currentUser, type RegisteredModelAccess, type Visibility } from "../../api/client";
import { ErrorBox, Loading } from "../../components/common";
import { useAsync } from "../run/hooks";
import { VISIBILITIES } from "./AccessPanel";
import { describePermission, moveTargetNames } from "./rules";
import "./teams.css";

export function ModelAccessPanel(props: { name: string }) {
  const access = useAsync((signal) => api.modelAccess(props.name, signal), [props.name]);
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
  const change = (p: Promise<{ access: RegisteredModelAccess }>) => {
    setBusy(true);
    setError(null);
    p.then((answer) => access.set(answer))
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const moveTargets = moveTargetNames(teams.data?.teams ?? [], !!currentUser()?.is_admin, a.team);
  return (
    <div class="access-panel" data-testid="access-panel">
      <p class="muted" data-testid="access-permission" data-permission={a.permission}>
        {describePermission(a.permission, "model")}
      </p>
      <div class="access-row">
        <span class="label">Team</span>
        {manage && moveTargets.length > 0 ? (
          <select
            aria-label="Owning team"
            value={a.team ?? ""}
            disabled={busy}
            onChange={(e) => change(api.changeModelAccess(props.name, { team: e.currentTarget.value }))}
          >
            {!a.team && <option value="">— none (common ground) —</option>}
            {moveTargets.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        ) : (
          <span data-testid="access-team">{a.team ?? <span class="muted">none (common ground)</span>}</span>
        )}
      </div>
      <div class="access-row">
        <span class="label">Visibility</span>
        {manage ? (
          <select
            aria-label="Visibility"
            value={a.visibility}
            disabled={busy}
            onChange={(e) =>
              change(api.changeModelAccess(props.name, { visibility: e.currentTarget.value as Visibility }))
            }
          >
            {VISIBILITIES.map((v) => (
              <option key={v.value} value={v.value}>
                {v.label}
              </option>
            ))}
          </select>
        ) : (
          <span data-testid="access-visibility">{a.visibility}</span>
        )}
      </div>
      <ErrorBox error={error ?? teams.error} />
    </div>
  );
}
