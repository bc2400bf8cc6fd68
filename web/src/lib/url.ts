// The URL holds the page and its query: /ui/<page>?k=v&... . Deep links open the same view.
export const BASE = '/ui/';

export interface Route {
  page: string;
  params: Record<string, string>;
}

export function parseRoute(pathname: string, search: string): Route {
  let p = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname.replace(/^\/+/, '');
  p = p.replace(/\/+$/, '');
  const page = p.split('/')[0] || 'overview';
  const params: Record<string, string> = {};
  new URLSearchParams(search).forEach((v, k) => {
    if (v !== '') params[k] = v;
  });
  return { page, params };
}

// Empty values are left out; keys are sorted so equal states give equal URLs.
export function routeToUrl(r: Route): string {
  const q = new URLSearchParams();
  for (const k of Object.keys(r.params).sort()) {
    const v = r.params[k];
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return `${BASE}${r.page === 'overview' ? '' : r.page}${s ? `?${s}` : ''}`;
}

type Listener = (r: Route) => void;
const listeners = new Set<Listener>();

export function currentRoute(): Route {
  return parseRoute(location.pathname, location.search);
}

export function navigate(r: Route, replace = false): void {
  const url = routeToUrl(r);
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  listeners.forEach((l) => l(r));
}

export function onRouteChange(l: Listener): () => void {
  listeners.add(l);
  const pop = () => l(currentRoute());
  window.addEventListener('popstate', pop);
  return () => {
    listeners.delete(l);
    window.removeEventListener('popstate', pop);
  };
}
