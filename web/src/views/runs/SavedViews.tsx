// The saved-views menu of the runs table: apply or delete a saved view, or save the current
// one under a name (kept in localStorage per experiment, see ./saved).
import { useState } from "preact/hooks";
import { navigate } from "../../router";
import { Popover } from "./Popover";
import { applyView, deleteView, loadViews, pickView, saveView, type SavedView } from "./saved";

export function SavedViews({ experimentId }: { experimentId: string }) {
  const [views, setViews] = useState<SavedView[]>(() => loadViews(localStorage, experimentId));
  const [name, setName] = useState("");
  const current = JSON.stringify(pickView(new URLSearchParams(location.search)));
  const active = views.find((v) => JSON.stringify(v.state) === current);

  const apply = (view: SavedView) => {
    const qs = applyView(new URLSearchParams(location.search), view.state).toString();
    navigate(location.pathname + (qs ? "?" + qs : ""), true);
  };

  const save = () => {
    const trimmed = name.trim();
    if (!trimmed) return;
    setViews(saveView(localStorage, experimentId, { name: trimmed, state: pickView(new URLSearchParams(location.search)) }));
    setName("");
  };

  return (
    <Popover label={<>{active ? active.name : "Views"} ▾</>} title="Saved views: filter, columns, sort and grouping" alignRight>
      {(close) => (
        <div class="views-menu">
          {views.length === 0 && <div class="muted views-empty">No saved views yet.</div>}
          {views.map((v) => (
            <div class={`views-item${v === active ? " active" : ""}`} key={v.name}>
              <button
                class="ghost views-apply"
                onClick={() => {
                  apply(v);
                  close();
                }}
                title={Object.entries(v.state).map(([k, val]) => `${k}: ${val}`).join("\n") || "the default view"}
              >
                {v.name}
              </button>
              <button
                class="ghost small"
                aria-label={`Delete view ${v.name}`}
                title="Delete this view"
                onClick={() => setViews(deleteView(localStorage, experimentId, v.name))}
              >
                ×
              </button>
            </div>
          ))}
          <form
            class="views-save"
            onSubmit={(e) => {
              e.preventDefault();
              save();
            }}
          >
            <input
              type="text"
              placeholder="Name the current view"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
              aria-label="View name"
            />
            <button type="submit" disabled={!name.trim()}>
              Save
            </button>
          </form>
        </div>
      )}
    </Popover>
  );
}
