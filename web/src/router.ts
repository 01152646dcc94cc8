/**
 * Path routing with the view's state in the query string, so that a link reproduces the view.
 *
 * Routes: `/` experiments, `/experiments/:id` runs table, `/runs/:id` run page,
 * `/compare?runs=a,b` compare view, `/models` registered models, `/models/:name` one model and
 * its versions, `/lineage?node=kind:key` the lineage graph around a node, `/teams` the caller's
 * teams and `/teams/:name` one team's members (authentication on), `/admin/audit` the audit log
 * (site administrators), `/mentions` the comments that mention the signed-in user (authentication
 * on). The server answers these paths with index.html.
 */
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "experiments" }
  | { page: "experiment"; experimentId: string }
  | { page: "run"; runId: string }
  | { page: "compare" }
  | { page: "models" }
  | { page: "model"; name: string }
  | { page: "lineage" }
  | { page: "teams" }
  | { page: "team"; name: string }
  | { page: "audit" }
  | { page: "mentions" }
  | { page: "not-found"; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "experiments" };
  if (parts[0] === "experiments" && parts.length === 1) return { page: "experiments" };
  if (parts[0] === "experiments" && parts.length === 2) return { page: "experiment", experimentId: parts[1] };
  if (parts[0] === "runs" && parts.length === 2) return { page: "run", runId: parts[1] };
  if (parts[0] === "compare" && parts.length === 1) return { page: "compare" };
  if (parts[0] === "models" && parts.length === 1) return { page: "models" };
  if (parts[0] === "models" && parts.length === 2) return { page: "model", name: parts[1] };
  if (parts[0] === "lineage" && parts.length === 1) return { page: "lineage" };
  if (parts[0] === "teams" && parts.length === 1) return { page: "teams" };
  if (parts[0] === "teams" && parts.length === 2) return { page: "team", name: parts[1] };
  if (parts[0] === "admin" && parts[1] === "audit" && parts.length === 2) return { page: "audit" };
  if (parts[0] === "mentions" && parts.length === 1) return { page: "mentions" };
  return { page: "not-found", path: pathname };
}

const listeners = new Set<() => void>();

function notify() {
  for (const listener of listeners) listener();
}

window.addEventListener("popstate", notify);

/** Go to `url` (path and query), adding a history entry unless `replace`. */
export function navigate(url: string, replace = false): void {
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  notify();
}

/** The current location, re-rendering the caller when it changes. */
export function useLocation(): { pathname: string; search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((t) => t + 1);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return { pathname: location.pathname, search: currentParams() };
}

let parsed: { search: string; params: URLSearchParams } | null = null;

/**
 * The query string parsed once per change and shared by every reader (read-only): a compare
 * link carries up to 1,000 run ids, and a page reads a dozen parameters on each render.
 */
function currentParams(): URLSearchParams {
  if (parsed?.search !== location.search) parsed = { search: location.search, params: new URLSearchParams(location.search) };
  return parsed.params;
}

/**
 * One query-string parameter as state: reading it follows the URL, setting it replaces the
 * history entry (so typing in a filter box does not flood the back button).
 */
export function useQueryParam(name: string, fallback = ""): [string, (value: string) => void] {
  const { search } = useLocation();
  const value = search.get(name) ?? fallback;
  const set = (next: string) => {
    const params = new URLSearchParams(location.search);
    if (next === fallback || next === "") params.delete(name);
    else params.set(name, next);
    const qs = params.toString();
    navigate(location.pathname + (qs ? "?" + qs : ""), true);
  };
  return [value, set];
}

/** Click handler for in-app links: plain clicks navigate without a page load. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = (event.currentTarget as HTMLAnchorElement | null) ?? null;
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute("href") ?? "/");
}
