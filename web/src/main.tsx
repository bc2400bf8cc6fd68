import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { api, getToken, setToken } from './lib/api';
import { currentRoute, navigate, onRouteChange, type Route, routeToUrl } from './lib/url';
import { Overview } from './pages/overview';
import { OpLog } from './pages/oplog';
import { Logs } from './pages/logs';
import { Alerts } from './pages/alerts';
import { GraphPage } from './pages/graph';
import { Crawler } from './pages/crawler';
import { Sessions } from './pages/sessions';
import { Login } from './pages/login';

export interface PageProps {
  params: Record<string, string>;
  // Replaces the query in the URL (the page's state); push adds a history entry.
  setParams: (p: Record<string, string>, push?: boolean) => void;
}

const PAGES: { id: string; title: string; C: (p: PageProps) => preact.JSX.Element }[] = [
  { id: 'overview', title: 'Overview', C: Overview },
  { id: 'oplog', title: 'Operation log', C: OpLog },
  { id: 'logs', title: 'Logs', C: Logs },
  { id: 'alerts', title: 'Alerts', C: Alerts },
  { id: 'graph', title: 'Graph', C: GraphPage },
  { id: 'crawler', title: 'Crawler', C: Crawler },
  { id: 'sessions', title: 'Sessions', C: Sessions },
];

function App() {
  const [route, setRoute] = useState<Route>(currentRoute());
  const [authed, setAuthed] = useState<boolean | null>(null);
  const [menu, setMenu] = useState(false);

  useEffect(() => onRouteChange(setRoute), []);
  useEffect(() => {
    const off = () => setAuthed(false);
    window.addEventListener('hakone:unauthorized', off);
    api('/api/console/whoami').then(
      () => setAuthed(true),
      () => setAuthed(false),
    );
    return () => window.removeEventListener('hakone:unauthorized', off);
  }, []);
  useEffect(() => {
    const page = PAGES.find((p) => p.id === route.page);
    document.title = `${page?.title ?? 'Not found'} · hakone console`;
    // Keyboard users land on the page heading after navigating.
    (document.getElementById('page-title') as HTMLElement | null)?.focus({ preventScroll: true });
  }, [route.page]);

  if (authed === null) return <div class="loading">Loading…</div>;
  if (!authed || route.page === 'login') {
    return (
      <Login
        onLogin={(t) => {
          setToken(t);
          setAuthed(true);
          if (route.page === 'login') navigate({ page: 'overview', params: {} });
        }}
      />
    );
  }
  const page = PAGES.find((p) => p.id === route.page);
  const setParams = (params: Record<string, string>, push = false) => navigate({ page: route.page, params }, !push);
  return (
    <div class="layout">
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">hakone</span>
        <button class="menu-btn" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu(!menu)}>
          Menu
        </button>
        <nav id="nav" class={menu ? 'open' : ''} aria-label="Pages">
          {PAGES.map((p) => (
            <a
              href={routeToUrl({ page: p.id, params: {} })}
              aria-current={p.id === route.page ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                setMenu(false);
                navigate({ page: p.id, params: {} });
              }}
            >
              {p.title}
            </a>
          ))}
          <a
            href={routeToUrl({ page: 'login', params: {} })}
            onClick={(e) => {
              e.preventDefault();
              setToken('');
              setAuthed(false);
            }}
          >
            Log out
          </a>
        </nav>
      </header>
      <main id="main">
        <h1 id="page-title" tabIndex={-1}>
          {page?.title ?? 'Not found'}
        </h1>
        {page ? <page.C key={page.id} params={route.params} setParams={setParams} /> : <p>No page “{route.page}”.</p>}
      </main>
    </div>
  );
}

if (getToken() === null) setToken('');
render(<App />, document.getElementById('app')!);
