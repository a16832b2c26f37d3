// Routes of the GUI, kept in the location hash (#/versions, #/version/UID ...) so the
// browser's back and forward buttons and reloads work in web mode as in Electron.
export type Route =
  | { view: 'repository' }
  | { view: 'versions' }
  | { view: 'version'; uid: string; compare?: string }
  | { view: 'backup' }
  | { view: 'restore'; uid?: string }
  | { view: 'scrub'; uids?: string[]; report?: string; job?: string }
  | { view: 'jobs'; job?: string }
  | { view: 'cleanup' }
  | { view: 'statistics' }
  | { view: 'policies' }
  | { view: 'settings' };

export type ViewName = Route['view'];

const SIMPLE: ViewName[] = ['repository', 'versions', 'backup', 'cleanup', 'statistics', 'settings', 'policies'];

export function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const params = new URLSearchParams(query);
  const [view, arg] = path.split('/').map((part) => decodeURIComponent(part));
  if (view === 'version' && arg) return { view: 'version', uid: arg, compare: params.get('compare') ?? undefined };
  if (view === 'restore') return { view: 'restore', uid: arg || undefined };
  if (view === 'scrub') return { view: 'scrub', uids: params.get('uids')?.split(',').filter(Boolean), report: params.get('report') ?? undefined, ...(params.get('job') ? { job: params.get('job')! } : {}) };
  if (view === 'jobs') return { view: 'jobs', job: arg || undefined };
  if ((SIMPLE as string[]).includes(view)) return { view } as Route;
  return { view: 'repository' };
}

export function routeHash(route: Route): string {
  switch (route.view) {
    case 'version':
      return `#/version/${encodeURIComponent(route.uid)}${route.compare ? `?compare=${encodeURIComponent(route.compare)}` : ''}`;
    case 'restore':
      return `#/restore${route.uid ? `/${encodeURIComponent(route.uid)}` : ''}`;
    case 'scrub': {
      const params = new URLSearchParams();
      if (route.uids?.length) params.set('uids', route.uids.join(','));
      if (route.report) params.set('report', route.report);
      if (route.job) params.set('job', route.job);
      const query = params.toString();
      return `#/scrub${query ? `?${query}` : ''}`;
    }
    case 'jobs':
      return `#/jobs${route.job ? `/${encodeURIComponent(route.job)}` : ''}`;
    default:
      return `#/${route.view}`;
  }
}
