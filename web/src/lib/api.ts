// Every call to the console's one origin (src/console): the token from the login page goes in
// `Authorization: Bearer`, and errors come back as ApiError with a kind the pages show.
const TOKEN_KEY = 'hakone.token';

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}
export function setToken(t: string): void {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the token lives for this page only */
  }
}

export type ApiErrorKind = 'unauthorized' | 'forbidden' | 'not_running' | 'bad_request' | 'error';

export class ApiError extends Error {
  constructor(
    public kind: ApiErrorKind,
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

// Maps a response status and the console's error body to what the page should say.
export function classifyError(status: number, body: unknown): ApiError {
  const err = (body as { error?: { type?: string; reason?: string } } | null)?.error;
  const reason = err?.reason ?? (typeof body === 'string' && body ? body : `HTTP ${status}`);
  if (status === 401) return new ApiError('unauthorized', status, reason);
  if (status === 403) return new ApiError('forbidden', status, reason);
  if (status === 404 || status === 502 || status === 503 || err?.type === 'upstream_unavailable' ||
      err?.type === 'component_not_configured') {
    return new ApiError('not_running', status, reason);
  }
  if (status === 400) return new ApiError('bad_request', status, reason);
  return new ApiError('error', status, reason);
}

export type Fetcher = (input: string, init?: RequestInit) => Promise<Response>;
let fetcher: Fetcher = (i, init) => fetch(i, init);
export function setFetcher(f: Fetcher) {
  fetcher = f;
}

export async function api<T = unknown>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(init.json);
  }
  let resp: Response;
  try {
    resp = await fetcher(path, { ...init, headers, body });
  } catch (e) {
    throw new ApiError('not_running', 0, `the console did not answer: ${(e as Error).message}`);
  }
  const text = await resp.text();
  let parsed: unknown = text;
  if ((resp.headers.get('Content-Type') ?? '').includes('json')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      /* keep the text */
    }
  }
  if (!resp.ok) {
    const e = classifyError(resp.status, parsed);
    if (e.kind === 'unauthorized') window.dispatchEvent(new CustomEvent('hakone:unauthorized'));
    throw e;
  }
  return parsed as T;
}
