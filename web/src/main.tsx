/**
 * Entry point: the app shell (header, theme, routing). Views other than the experiments list and
 * the runs table load on demand, so the first screen stays small.
 */
import { render } from "preact";
import { lazy, Suspense } from "preact/compat";
import { useEffect, useState } from "preact/hooks";
import { api, onUnauthenticated, setCsrfToken, setSignedIn, type SessionState } from "./api/client";
import { LoginPage } from "./views/login";
import "./style.css";
import { Link, Loading } from "./components/common";
import { parseRoute, useLocation } from "./router";
import { applyTheme, currentTheme, toggleTheme } from "./theme";
import { ExperimentsPage } from "./views/experiments";
import { RunsPage } from "./views/runs";
import { preloadCompare } from "./views/compare/request";
import { warmSeriesWorker } from "./charts/offthread";

const RunPage = lazy(() => import("./views/run").then((m) => ({ default: m.RunPage })));
const ComparePage = lazy(() => import("./views/compare").then((m) => ({ default: m.ComparePage })));
const ModelsPage = lazy(() => import("./views/models").then((m) => ({ default: m.ModelsPage })));
const ModelPage = lazy(() => import("./views/models").then((m) => ({ default: m.ModelPage })));
const LineagePage = lazy(() => import("./views/models").then((m) => ({ default: m.LineagePage })));
const TeamsPage = lazy(() => import("./views/teams").then((m) => ({ default: m.TeamsPage })));
const TeamPage = lazy(() => import("./views/teams").then((m) => ({ default: m.TeamPage })));
const AuditPage = lazy(() => import("./views/audit").then((m) => ({ default: m.AuditPage })));
const MentionsPage = lazy(() => import("./views/mentions").then((m) => ({ default: m.MentionsPage })));

/** Whether the server wants credentials and who is signed in; `null` until known. */
function useSession(): [SessionState | null, (s: SessionState) => void] {
  const [session, setSession] = useState<SessionState | null>(null);
  useEffect(() => {
    api
      .session()
      .then((s) => {
        setCsrfToken(s.csrf_token);
        setSession(s);
      })
      // An older server without the route: no authentication.
      .catch(() => setSession({ auth_enabled: false, user: null, csrf_token: null }));
    return onUnauthenticated(() => setSession((s) => (s ? { ...s, user: null, csrf_token: null } : s)));
  }, []);
  return [session, setSession];
}

function App() {
  const { pathname } = useLocation();
  const route = parseRoute(pathname);
  const [theme, setTheme] = useState(currentTheme());
  const [session, setSession] = useSession();
  if (session === null) return <Loading />;
  setSignedIn(session.auth_enabled, session.user);
  if (session.auth_enabled && !session.user) {
    return <LoginPage onSignedIn={(user) => setSession({ ...session, user })} />;
  }
  const signOut = () =>
    api.signOut().finally(() => {
      setCsrfToken(null);
      setSession({ ...session, user: null, csrf_token: null });
    });
  let page;
  switch (route.page) {
    case "experiments":
      page = <ExperimentsPage />;
      break;
    case "experiment":
      page = <RunsPage experimentId={route.experimentId} />;
      break;
    case "run":
      page = <RunPage runId={route.runId} />;
      break;
    case "compare":
      page = <ComparePage />;
      break;
    case "models":
      page = <ModelsPage />;
      break;
    case "model":
      page = <ModelPage name={route.name} />;
      break;
    case "lineage":
      page = <LineagePage />;
      break;
    case "teams":
      page = session.auth_enabled ? <TeamsPage /> : <NoTeams />;
      break;
    case "team":
      page = session.auth_enabled ? <TeamPage name={route.name} /> : <NoTeams />;
      break;
    case "audit":
      // A signed-in non-admin still gets the page: it shows the server's refusal.
      page = session.auth_enabled ? <AuditPage /> : <NoAudit />;
      break;
    case "mentions":
      page = session.auth_enabled ? <MentionsPage /> : <NoMentions />;
      break;
    default:
      page = (
        <div class="page">
          <h1>Not found</h1>
          <p>
            No page at <code>{route.path}</code>. <Link href="/">Experiments</Link>
          </p>
        </div>
      );
  }
  return (
    <>
      <header class="topbar">
        <Link href="/" class="brand">
          ◭ Cairn
        </Link>
        <nav>
          <Link href="/">Experiments</Link>
          <Link href="/models">Models</Link>
          {session.auth_enabled && <Link href="/teams">Teams</Link>}
          {session.auth_enabled && session.user && <Link href="/mentions">Mentions</Link>}
          {session.auth_enabled && session.user?.is_admin && <Link href="/admin/audit">Audit</Link>}
        </nav>
        <span class="spacer" />
        {session.user && (
          <>
            <span class="user" data-testid="signed-in-as">
              {session.user.username}
            </span>
            <button class="ghost" onClick={signOut}>
              Sign out
            </button>
          </>
        )}
        <button
          class="ghost"
          title="Toggle light/dark theme"
          aria-label="Toggle theme"
          onClick={() => setTheme(toggleTheme())}
        >
          {theme === "dark" ? "☀" : "☾"}
        </button>
      </header>
      <main>
        <Suspense fallback={<Loading />}>{page}</Suspense>
      </main>
    </>
  );
}

/** `/teams` on a server without authentication, where there are no teams. */
function NoTeams() {
  return (
    <div class="page">
      <h1>Teams</h1>
      <p class="muted">
        Teams need authentication: start the server with <code>--auth</code>. <Link href="/">Experiments</Link>
      </p>
    </div>
  );
}

/** `/admin/audit` on a server without authentication, which keeps no audit log. */
function NoAudit() {
  return (
    <div class="page">
      <h1>Audit log</h1>
      <p class="muted">
        The audit log is kept while authentication is on: start the server with <code>--auth</code>.{" "}
        <Link href="/">Experiments</Link>
      </p>
    </div>
  );
}

/** `/mentions` on a server without authentication, where nobody is signed in to be mentioned. */
function NoMentions() {
  return (
    <div class="page">
      <h1>Mentions</h1>
      <p class="muted">
        Mentions need authentication: start the server with <code>--auth</code>. <Link href="/">Experiments</Link>
      </p>
    </div>
  );
}

applyTheme(currentTheme());
// A lazy view's first request need not wait for the view's code (nor its charts' worker).
if (parseRoute(location.pathname).page === "compare") {
  preloadCompare(new URLSearchParams(location.search));
  warmSeriesWorker();
}
render(<App />, document.getElementById("app")!);
