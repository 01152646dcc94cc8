// Saved views of the runs table: named snapshots of its URL state (filter, columns, sort,
// group, lifecycle view), kept in localStorage per experiment.

/** The view state a saved view restores: URL parameter → value. */
export type ViewState = Record<string, string>;

export type SavedView = { name: string; state: ViewState };

/** The URL parameters a saved view holds (the selection is not part of a view). */
export const VIEW_PARAMS = ["filter", "cols", "sort", "group", "view"] as const;

const storageKey = (experimentId: string) => `cairn.runs.views.${experimentId}`;

export function loadViews(storage: Storage, experimentId: string): SavedView[] {
  try {
    const parsed = JSON.parse(storage.getItem(storageKey(experimentId)) ?? "[]") as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (v): v is SavedView => typeof v?.name === "string" && typeof v?.state === "object" && v.state !== null,
    );
  } catch {
    return [];
  }
}

/** Saves `view`, replacing one of the same name; returns the new list (sorted by name). */
export function saveView(storage: Storage, experimentId: string, view: SavedView): SavedView[] {
  const views = loadViews(storage, experimentId).filter((v) => v.name !== view.name);
  views.push(view);
  views.sort((a, b) => a.name.localeCompare(b.name));
  storage.setItem(storageKey(experimentId), JSON.stringify(views));
  return views;
}

export function deleteView(storage: Storage, experimentId: string, name: string): SavedView[] {
  const views = loadViews(storage, experimentId).filter((v) => v.name !== name);
  storage.setItem(storageKey(experimentId), JSON.stringify(views));
  return views;
}

/** The view parameters of a query string (only those set). */
export function pickView(search: URLSearchParams): ViewState {
  const state: ViewState = {};
  for (const p of VIEW_PARAMS) {
    const v = search.get(p);
    if (v) state[p] = v;
  }
  return state;
}

/** A query string with the view parameters replaced by `state` (others, like the selection, kept). */
export function applyView(search: URLSearchParams, state: ViewState): URLSearchParams {
  const next = new URLSearchParams(search);
  for (const p of VIEW_PARAMS) {
    if (state[p]) next.set(p, state[p]);
    else next.delete(p);
  }
  return next;
}
