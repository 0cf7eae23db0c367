// The client-side routes. The server answers index.html for each of these paths (src/server/ui.ts
// lists the same prefixes), so a reload or a shared link lands on the same page.

import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'projects' }
  | { page: 'login' }
  | { page: 'agents' }
  | { page: 'queue' }
  | { page: 'settings'; project: string }
  | { page: 'members'; project: string }
  | { page: 'environments'; project: string }
  | { page: 'insights'; project: string }
  | { page: 'lint'; project: string }
  /** A project's audit log, or (project null) the instance's. */
  | { page: 'audit'; project: string | null }
  /** A project's compute minutes, or (project null) the instance's. */
  | { page: 'usage'; project: string | null }
  | { page: 'tokens' }
  | { page: 'project'; project: string }
  | { page: 'pipeline'; id: number }
  | { page: 'job'; id: number }
  | { page: 'not-found' };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [a, b] = parts;
  if (parts.length === 0) return { page: 'projects' };
  if (parts.length === 1 && a === 'login') return { page: 'login' };
  if (parts.length === 1 && a === 'agents') return { page: 'agents' };
  if (parts.length === 1 && a === 'queue') return { page: 'queue' };
  if (parts.length === 1 && a === 'projects') return { page: 'projects' };
  if (parts.length === 2 && a === 'projects') return { page: 'project', project: b! };
  if (parts.length === 3 && a === 'projects' && parts[2] === 'settings') return { page: 'settings', project: b! };
  if (parts.length === 3 && a === 'projects' && parts[2] === 'environments') return { page: 'environments', project: b! };
  if (parts.length === 3 && a === 'projects' && parts[2] === 'usage') return { page: 'usage', project: b! };
  if (parts.length === 3 && a === 'projects' && parts[2] === 'insights') return { page: 'insights', project: b! };
  if (parts.length === 3 && a === 'projects' && parts[2] === 'lint') return { page: 'lint', project: b! };
  if (parts.length === 4 && a === 'projects' && parts[2] === 'settings' && parts[3] === 'members') return { page: 'members', project: b! };
  if (parts.length === 4 && a === 'projects' && parts[2] === 'settings' && parts[3] === 'audit') return { page: 'audit', project: b! };
  if (parts.length === 2 && a === 'account' && b === 'tokens') return { page: 'tokens' };
  if (parts.length === 2 && a === 'admin' && b === 'audit') return { page: 'audit', project: null };
  if (parts.length === 2 && a === 'admin' && b === 'usage') return { page: 'usage', project: null };
  if (parts.length === 2 && a === 'pipelines' && /^[1-9][0-9]*$/.test(b!)) return { page: 'pipeline', id: Number(b) };
  if (parts.length === 2 && a === 'jobs' && /^[1-9][0-9]*$/.test(b!)) return { page: 'job', id: Number(b) };
  return { page: 'not-found' };
}

const CHANGE = 'gantry:navigate';

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new Event(CHANGE));
}

export interface Place {
  pathname: string;
  search: URLSearchParams;
  hash: string;
}

const here = (): Place => ({ pathname: location.pathname, search: new URLSearchParams(location.search), hash: location.hash });

/** The current location; re-renders on navigation, back/forward and hash changes. */
export function useLocation(): Place {
  const [place, setPlace] = useState(here);
  useEffect(() => {
    const update = () => setPlace(here());
    window.addEventListener('popstate', update);
    window.addEventListener('hashchange', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('hashchange', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return place;
}

/** Click handler for in-app links: plain left clicks navigate without a reload; others behave as links. */
export function onLinkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.currentTarget as HTMLAnchorElement | null) ?? null;
  if (!a || a.target || a.origin !== location.origin) return;
  e.preventDefault();
  navigate(a.pathname + a.search + a.hash);
}
