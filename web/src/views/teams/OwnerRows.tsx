// The owning team and visibility rows both access panels show (experiments, registered models):
// selects for managers, plain text for everyone else.
import type { Visibility } from "../../api/client";

export const VISIBILITIES: { value: Visibility; label: string }[] = [
  { value: "private", label: "Private (creator and team admins)" },
  { value: "team", label: "Team" },
  { value: "public", label: "Public (every signed-in user reads)" },
];

export function OwnerRows(props: {
  team: string | null;
  visibility: Visibility;
  manage: boolean;
  /** Teams the owner may move to (empty: the team is shown, not chosen). */
  moveTargets: string[];
  busy: boolean;
  onChange: (change: { team?: string; visibility?: Visibility }) => void;
}) {
  return (
    <>
      <div class="access-row">
        <span class="label">Team</span>
        {props.manage && props.moveTargets.length > 0 ? (
          <select
            aria-label="Owning team"
            value={props.team ?? ""}
            disabled={props.busy}
            onChange={(e) => props.onChange({ team: e.currentTarget.value })}
          >
            {!props.team && <option value="">— none (common ground) —</option>}
            {props.moveTargets.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        ) : (
          <span data-testid="access-team">{props.team ?? <span class="muted">none (common ground)</span>}</span>
        )}
      </div>
      <div class="access-row">
        <span class="label">Visibility</span>
        {props.manage ? (
          <select
            aria-label="Visibility"
            value={props.visibility}
            disabled={props.busy}
            onChange={(e) => props.onChange({ visibility: e.currentTarget.value as Visibility })}
          >
            {VISIBILITIES.map((v) => (
              <option key={v.value} value={v.value}>
                {v.label}
              </option>
            ))}
          </select>
        ) : (
          <span data-testid="access-visibility">{props.visibility}</span>
        )}
      </div>
    </>
  );
}
