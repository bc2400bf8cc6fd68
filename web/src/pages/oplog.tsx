import { useState } from 'preact/hooks';
import { api, ApiError } from '../lib/api';
import { TimeChart } from '../lib/chart';
import { formatTime, perMinuteByStatus, STATUS_CLASSES } from '../lib/format';
import { AUDIT_FIELDS, auditParams } from '../lib/query';
import { ErrorBox, JsonView, Loading, Panel, useAsync } from '../lib/ui';
import type { PageProps } from '../main';

interface AuditEvent {
  seq: number;
  time: string;
  user: string;
  client_ip: string;
  method: string;
  path: string;
  route?: string;
  status: number;
  total_ms?: number;
  [k: string]: unknown;
}
interface SearchResp {
  count: number;
  events: AuditEvent[];
}
interface WhoResp {
  users: { user: string; count: number; first: string; last: string }[];
}
interface Verify {
  intact: boolean;
  message: string;
  events: number;
  last_seq: number;
  checkpoints: number;
  last_checkpoint_seq: number;
  last_checkpoint_time: string;
  unsigned_events: number;
}

const STATUS_COLORS: Record<string, string> = { '2xx': '#59a14f', '3xx': '#4e79a7', '4xx': '#f28e2b', '5xx': '#e15759' };

const LABELS: Record<string, string> = {
  user: 'User', since: 'Since', until: 'Until', path: 'Path or route', method: 'Method', status: 'Status', ip: 'IP or CIDR', limit: 'Limit',
};
const PLACEHOLDERS: Record<string, string> = {
  user: 'alice', since: '1h or 2026-11-26T09:00', until: 'now', path: '/candidates/*', method: 'POST', status: '5xx', ip: '10.0.0.0/8', limit: '200',
};

function EventsTable({ events, onUser, onPath }: { events: AuditEvent[]; onUser: (u: string) => void; onPath: (p: string) => void }) {
  const [open, setOpen] = useState<number | null>(null);
  return (
    <div class="table-wrap">
      <table class="events">
        <thead>
          <tr>
            <th>Time</th><th>User</th><th>IP</th><th>Method</th><th>Path</th><th>Status</th><th>ms</th><th></th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <>
              <tr key={e.seq} data-seq={e.seq} class={`s${String(e.status)[0]}`}>
                <td>{formatTime(e.time)}</td>
                <td><button class="link" title="This user's timeline" onClick={() => onUser(e.user)}>{e.user}</button></td>
                <td>{e.client_ip}</td>
                <td>{e.method}</td>
                <td><button class="link" title="Who touched this resource" onClick={() => onPath(e.path)}>{e.path}</button></td>
                <td>{e.status}</td>
                <td>{e.total_ms !== undefined ? Number(e.total_ms).toFixed(1) : ''}</td>
                <td>
                  <button class="link" aria-expanded={open === e.seq} onClick={() => setOpen(open === e.seq ? null : e.seq)}>
                    {open === e.seq ? 'hide' : 'event'}
                  </button>
                </td>
              </tr>
              {open === e.seq && (
                <tr class="detail"><td colSpan={8}><JsonView value={e} /></td></tr>
              )}
            </>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ChainStatus() {
  const v = useAsync(async () => {
    try {
      return await api<Verify>('/api/audit/verify');
    } catch (e) {
      // 409: the chain is broken; the body still says where.
      if (e instanceof ApiError && e.status === 409) return { intact: false, message: e.message } as Verify;
      throw e;
    }
  }, 'verify');
  return (
    <Panel title="Hash chain" id="chain">
      {v.loading && <Loading what="chain verification" />}
      {v.error ? <ErrorBox error={v.error} component="The gateway" /> : null}
      {v.data && (
        <dl class="kv" data-intact={String(v.data.intact)}>
          <dt>Status</dt>
          <dd class={v.data.intact ? 'ok' : 'bad'} id="chain-status">{v.data.intact ? 'intact' : 'BROKEN'} — {v.data.message}</dd>
          <dt>Events</dt><dd>{v.data.events} (last seq {v.data.last_seq})</dd>
          <dt>Last signed checkpoint</dt>
          <dd id="chain-checkpoint">
            {v.data.checkpoints ? `seq ${v.data.last_checkpoint_seq} at ${formatTime(v.data.last_checkpoint_time)}` : 'none yet'}
            {' '}({v.data.checkpoints} checkpoints, {v.data.unsigned_events} events after the last)
          </dd>
        </dl>
      )}
      <button onClick={v.reload} disabled={v.loading}>Verify again</button>
    </Panel>
  );
}

export function OpLog({ params, setParams }: PageProps) {
  const view = params.view ?? 'search';
  const [form, setForm] = useState<Record<string, string>>(() => ({ since: '1h', ...params }));
  const qs = auditParams({ since: '1h', ...params });
  const result = useAsync(async () => {
    if (view === 'timeline') return api<SearchResp>(`/api/audit/timeline?${auditParams({ user: params.user, since: params.since, until: params.until, limit: params.limit })}`);
    if (view === 'who') return api<WhoResp>(`/api/audit/who?${auditParams({ path: params.path, since: params.since, until: params.until })}`);
    return api<SearchResp>(`/api/audit/search?${qs}`);
  }, `${view}?${qs}`);
  // The chart: the same filters, up to 5000 events.
  const chart = useAsync(
    () => (view === 'search' ? api<SearchResp>(`/api/audit/search?${auditParams({ ...params, limit: '5000', since: params.since || '1h' })}`) : Promise.resolve(null)),
    `chart:${view}?${qs}`,
  );
  const submit = (e: Event) => {
    e.preventDefault();
    const p: Record<string, string> = {};
    for (const k of AUDIT_FIELDS) if (form[k]?.trim()) p[k] = form[k].trim();
    setParams(p, true);
  };
  const go = (p: Record<string, string>) => {
    setForm({ ...form, ...p });
    setParams(p, true);
  };
  const pm = chart.data ? perMinuteByStatus(chart.data.events, 10) : null;
  return (
    <div>
      <form class="filters" onSubmit={submit} role="search" aria-label="Search the operation log">
        {AUDIT_FIELDS.map((k) => (
          <label>
            <span>{LABELS[k]}</span>
            <input name={k} value={form[k] ?? ''} placeholder={PLACEHOLDERS[k]}
              onInput={(e) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value })} />
          </label>
        ))}
        <button type="submit">Search</button>
      </form>
      {view !== 'search' && (
        <p class="crumb">
          {view === 'timeline' ? `Timeline of ${params.user}` : `Who touched ${params.path}`} ·{' '}
          <button class="link" onClick={() => go({ since: params.since || '1h' })}>back to search</button>
        </p>
      )}
      {view === 'search' && pm && pm.x.length > 0 && (
        <Panel title="Requests per minute by status" id="rpm">
          <TimeChart ariaLabel="requests per minute by status" bars x={pm.x}
            series={STATUS_CLASSES.map((k) => ({ label: k, values: pm.series[k], color: STATUS_COLORS[k] }))} />
        </Panel>
      )}
      <Panel title={view === 'who' ? 'Users' : 'Events'} id="results">
        {result.loading && <Loading what="events" />}
        {result.error ? <ErrorBox error={result.error} component="The gateway" /> : null}
        {!result.loading && result.data && 'users' in result.data && (
          <div class="table-wrap">
            <table class="who">
              <thead><tr><th>User</th><th>Requests</th><th>First</th><th>Last</th></tr></thead>
              <tbody>
                {result.data.users.map((u) => (
                  <tr>
                    <td><button class="link" onClick={() => go({ view: 'timeline', user: u.user })}>{u.user}</button></td>
                    <td>{u.count}</td><td>{formatTime(u.first)}</td><td>{formatTime(u.last)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {result.data.users.length === 0 && <p class="muted">Nobody touched it in this range.</p>}
          </div>
        )}
        {!result.loading && result.data && 'events' in result.data && (
          <>
            <p class="muted" id="result-count">{result.data.count} events</p>
            <EventsTable events={result.data.events}
              onUser={(u) => go({ view: 'timeline', user: u })}
              onPath={(p) => go({ view: 'who', path: p })} />
          </>
        )}
      </Panel>
      <ChainStatus />
    </div>
  );
}
