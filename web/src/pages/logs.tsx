import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { TimeChart } from '../lib/chart';
import { formatTime } from '../lib/format';
import { ENVS, logsIndex, logsSearchBody, tailBody } from '../lib/query';
import { ErrorBox, JsonView, Loading, Panel, useAsync } from '../lib/ui';
import type { PageProps } from '../main';

interface Hit {
  _id: string;
  _index: string;
  _source: Record<string, unknown>;
}
interface SearchResp {
  hits: { total: { value: number } | number; hits: Hit[] };
  aggregations?: { histogram?: { buckets: { key: number; doc_count: number }[] } };
}

const RANGES = ['5m', '15m', '1h', '6h', '24h', '7d'];

function hitTime(h: Hit, field: string): string {
  const v = h._source[field] ?? h._source['time'] ?? h._source['timestamp'];
  return typeof v === 'string' || typeof v === 'number' ? formatTime(v) : '';
}
function hitMessage(h: Hit): string {
  const s = h._source;
  const m = s['message'] ?? s['msg'] ?? s['log'];
  return typeof m === 'string' ? m : JSON.stringify(s);
}

function Row({ h, field }: { h: Hit; field: string }) {
  const [open, setOpen] = useState(false);
  const level = String(h._source['level'] ?? h._source['severity'] ?? '');
  return (
    <li class={`log ${level.toLowerCase()}`}>
      <button class="row" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span class="t">{hitTime(h, field)}</span>
        {level && <span class="lvl">{level}</span>}
        <span class="msg">{hitMessage(h)}</span>
      </button>
      {open && <JsonView value={h._source} />}
    </li>
  );
}

export function Logs({ params, setParams }: PageProps) {
  const env = params.env && (ENVS as readonly string[]).includes(params.env) ? params.env : 'prod';
  const field = params.field || '@timestamp';
  const [q, setQ] = useState(params.q ?? '');
  const state = { env, q: params.q, from: params.from || '15m', to: params.to, field };
  const key = JSON.stringify(state);
  const res = useAsync(
    () => api<SearchResp>(`/es/${encodeURIComponent(logsIndex(env))}/_search`, { method: 'POST', json: logsSearchBody(state, Date.now()) }),
    key,
  );
  const set = (p: Record<string, string | undefined>, push = true) => {
    const next: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...params, ...p })) if (v) next[k] = v;
    setParams(next, push);
  };

  // Live tail: every 2 s, what arrived after the newest event shown.
  const [tail, setTail] = useState<Hit[]>([]);
  const [tailError, setTailError] = useState<unknown>(null);
  const live = params.live === '1';
  const newest = useRef(Date.now());
  useEffect(() => {
    setTail([]);
    setTailError(null);
    if (!live) return;
    newest.current = Date.now() - 5000;
    const id = setInterval(async () => {
      try {
        const r = await api<SearchResp>(`/es/${encodeURIComponent(logsIndex(env))}/_search`, { method: 'POST', json: tailBody(state, newest.current) });
        const hits = r.hits.hits;
        if (hits.length) {
          const last = Date.parse(String(hits[hits.length - 1]._source[field] ?? ''));
          if (!Number.isNaN(last)) newest.current = last;
          setTail((t) => [...hits.slice().reverse(), ...t].slice(0, 500));
        }
        setTailError(null);
      } catch (e) {
        setTailError(e);
      }
    }, 2000);
    return () => clearInterval(id);
  }, [live, key]);

  const buckets = res.data?.aggregations?.histogram?.buckets ?? [];
  const total = res.data ? (typeof res.data.hits.total === 'number' ? res.data.hits.total : res.data.hits.total.value) : 0;
  return (
    <div>
      <div role="tablist" aria-label="Environment" class="tabs">
        {ENVS.map((e) => (
          <button role="tab" aria-selected={e === env} id={`tab-${e}`} onClick={() => set({ env: e })}>{e}</button>
        ))}
      </div>
      <form class="querybar" role="search" onSubmit={(e) => { e.preventDefault(); set({ q }); }}>
        <label for="logs-q" class="sr-only">Query (query_string syntax)</label>
        <input id="logs-q" name="q" value={q} placeholder='level:ERROR AND service:api AND "timeout"'
          onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <label for="logs-range" class="sr-only">Time range</label>
        <select id="logs-range" value={params.to ? 'custom' : state.from} onChange={(e) => set({ from: (e.target as HTMLSelectElement).value, to: undefined })}>
          {RANGES.map((r) => <option value={r}>last {r}</option>)}
          {params.to && <option value="custom">{formatTime(state.from)} → {formatTime(params.to)}</option>}
        </select>
        <button type="submit">Search</button>
        <label class="check">
          <input type="checkbox" checked={live} onChange={() => set({ live: live ? undefined : '1' })} /> Live tail
        </label>
      </form>
      {res.loading && !res.data && <Loading what="logs" />}
      {res.error ? <ErrorBox error={res.error} component="The store" /> : null}
      {res.data && (
        <>
          <Panel title={`${total} events in ${logsIndex(env)}`} id="histogram">
            {buckets.length > 0 ? (
              <TimeChart ariaLabel="events over time; drag to zoom" bars x={buckets.map((b) => b.key / 1000)}
                series={[{ label: 'events', values: buckets.map((b) => b.doc_count), color: '#4e79a7' }]}
                onBrush={(a, b) => set({ from: new Date(a * 1000).toISOString(), to: new Date(b * 1000).toISOString() })} />
            ) : (
              <p class="muted">No histogram.</p>
            )}
            {params.to && <button class="link" onClick={() => set({ from: '15m', to: undefined })}>reset zoom</button>}
          </Panel>
          {live && (
            <Panel title="Live tail" id="tail">
              {tailError ? <ErrorBox error={tailError} component="The store" /> : null}
              <ul class="logs" aria-live="polite">{tail.map((h) => <Row h={h} field={field} />)}</ul>
              {tail.length === 0 && <p class="muted">Waiting for new events…</p>}
            </Panel>
          )}
          <Panel title="Results" id="results">
            <ul class="logs">{res.data.hits.hits.map((h) => <Row h={h} field={field} />)}</ul>
            {res.data.hits.hits.length === 0 && <p class="muted">Nothing matches.</p>}
          </Panel>
        </>
      )}
    </div>
  );
}
