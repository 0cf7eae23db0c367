// The shell: header with navigation and who is signed in, and the page for the current route. The
// app first asks the server who this is (GET /session: a session cookie or a stored token); when
// nobody is signed in, every page but sign-in sends the visitor there (and back afterwards).

import { useEffect } from 'preact/hooks';
import { setUnauthorizedHandler } from './api/client.js';
import { loadSession, signedOut, useSession } from './api/session.js';
import { ErrorBox, Loading } from './components/feedback.js';
import { Link } from './components/link.js';
import { ServerBusy } from './components/server-busy.js';
import { UserMenu } from './components/user-menu.js';
import { AgentsPage } from './pages/agents-page.js';
import { InstanceAuditPage, ProjectAuditPage } from './pages/audit-page.js';
import { JobPage } from './pages/job-page.js';
import { LoginPage } from './pages/login-page.js';
import { MembersPage } from './pages/members-page.js';
import { EnvironmentsPage } from './pages/environments-page.js';
import { PipelinePage } from './pages/pipeline-page.js';
import { ProjectPage } from './pages/project-page.js';
import { ProjectsPage } from './pages/projects-page.js';
import { QueuePage } from './pages/queue-page.js';
import { InsightsPage } from './pages/insights-page.js';
import { LintPage } from './pages/lint-page.js';
import { InstanceUsagePage, ProjectUsagePage } from './pages/usage-page.js';
import { SettingsPage } from './pages/settings-page.js';
import { TokensPage } from './pages/tokens-page.js';
import { navigate, parseRoute, useLocation, type Place, type Route } from './router.js';

const NEXT_KEY = 'gantry.next';

function titleOf(route: Route): string {
  switch (route.page) {
    case 'project':
      return route.project;
    case 'settings':
      return `Settings · ${route.project}`;
    case 'members':
      return `Members · ${route.project}`;
    case 'environments':
      return `Environments · ${route.project}`;
    case 'insights':
      return `Insights · ${route.project}`;
    case 'lint':
      return `Lint · ${route.project}`;
    case 'tokens':
      return 'Your tokens';
    case 'audit':
      return route.project === null ? 'Audit log' : `Audit log · ${route.project}`;
    case 'usage':
      return route.project === null ? 'Compute minutes' : `Compute minutes · ${route.project}`;
    case 'pipeline':
      return `Pipeline #${route.id}`;
    case 'job':
      return `Job #${route.id}`;
    case 'agents':
      return 'Agents';
    case 'queue':
      return 'Queue';
    default:
      return 'Projects';
  }
}

function Page({ route, place }: { route: Route; place: Place }) {
  switch (route.page) {
    case 'projects':
      return <ProjectsPage />;
    case 'project':
      return <ProjectPage key={route.project} project={route.project} place={place} />;
    case 'pipeline':
      return <PipelinePage key={route.id} id={route.id} />;
    case 'job':
      return <JobPage key={route.id} id={route.id} place={place} />;
    case 'agents':
      return <AgentsPage />;
    case 'queue':
      return <QueuePage />;
    case 'settings':
      return <SettingsPage key={route.project} project={route.project} />;
    case 'members':
      return <MembersPage key={route.project} project={route.project} />;
    case 'environments':
      return <EnvironmentsPage key={route.project} project={route.project} />;
    case 'insights':
      return <InsightsPage key={route.project} project={route.project} place={place} />;
    case 'lint':
      return <LintPage key={route.project} project={route.project} />;
    case 'tokens':
      return <TokensPage />;
    case 'audit':
      return route.project === null ? <InstanceAuditPage /> : <ProjectAuditPage key={route.project} project={route.project} />;
    case 'usage':
      return route.project === null ? <InstanceUsagePage place={place} /> : <ProjectUsagePage key={route.project} project={route.project} place={place} />;
    case 'login':
      return <LoginPage next={sessionStorage.getItem(NEXT_KEY) ?? '/'} />;
    case 'not-found':
      return (
        <main class="page">
          <h1>Not found</h1>
          <p>
            There is no page at <code>{place.pathname}</code>. <Link href="/">Go to the projects</Link>.
          </p>
        </main>
      );
  }
}

export function App() {
  const place = useLocation();
  const route = parseRoute(place.pathname);
  const session = useSession();

  useEffect(() => {
    // A 401 anywhere: the session ended (signed out elsewhere, expired, the user disabled) or the token stopped working.
    setUnauthorizedHandler(signedOut);
    void loadSession();
  }, []);

  useEffect(() => {
    // Remembered in sessionStorage, not in the URL: after sign-in the user lands where they were going.
    if (session.status === 'signed-out' && route.page !== 'login') {
      sessionStorage.setItem(NEXT_KEY, location.pathname + location.search + location.hash);
      navigate('/login', { replace: true });
    }
  }, [session.status, route.page]);

  useEffect(() => {
    if (route.page === 'login') document.title = 'Sign in · Gantry';
    else document.title = `${titleOf(route)} · Gantry`;
  }, [place.pathname]);

  if (session.status === 'loading') return <Loading what="Gantry" />;
  if (session.status === 'failed')
    return (
      <main class="page">
        <ErrorBox error={session.error} />
        <button type="button" onClick={() => void loadSession()}>
          Try again
        </button>
      </main>
    );
  const who = session.status === 'signed-in' ? session.who : null;
  if (!who && route.page !== 'login') return null;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand" aria-label="Gantry home">
          <span class="logo" aria-hidden="true">
            {/* A gantry crane: a beam on two legs, a hook. */}
            <svg width="16" height="16" viewBox="0 0 16 16">
              <path d="M2 3h12M4 3v11M12 3v11M8 3v5" />
            </svg>
          </span>
          Gantry
        </Link>
        {route.page !== 'login' && who ? (
          <nav class="top-nav" aria-label="Main">
            <Link href="/" aria-current={route.page === 'projects' || route.page === 'project' || route.page === 'settings' || route.page === 'members' || route.page === 'insights' || route.page === 'lint' || ((route.page === 'audit' || route.page === 'usage') && route.project !== null) ? 'page' : undefined}>
              Projects
            </Link>
            <Link href="/queue" aria-current={route.page === 'queue' ? 'page' : undefined}>
              Queue
            </Link>
            <Link href="/agents" aria-current={route.page === 'agents' ? 'page' : undefined}>
              Agents
            </Link>
            <UserMenu
              who={who}
              onSignedOut={() => {
                sessionStorage.removeItem(NEXT_KEY);
                navigate('/login');
              }}
            />
          </nav>
        ) : null}
      </header>
      <ServerBusy />
      <div id="main">
        <Page route={route} place={place} />
      </div>
    </>
  );
}
