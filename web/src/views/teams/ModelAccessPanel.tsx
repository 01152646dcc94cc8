// A registered model's access (authentication on): its owning team, visibility and what the caller
// may do; its managers move it to another of their teams and change its visibility. Registered
// models have no shares.
import { useState } from "preact/hooks";
import { api, currentUser, type RegisteredModelAccess } from "../../api/client";
import { ErrorBox, Loading } from "../../components/common";
import { useAsync } from "../run/hooks";
import { OwnerRows } from "./OwnerRows";
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
      <OwnerRows
        team={a.team}
        visibility={a.visibility}
        manage={manage}
        moveTargets={moveTargets}
        busy={busy}
        onChange={(next) => change(api.changeModelAccess(props.name, next))}
      />
      <ErrorBox error={error ?? teams.error} />
    </div>
  );
}
