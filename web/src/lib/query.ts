// Building the queries the pages send: the operation log's parameters and the store's
// Elasticsearch `_search` bodies.
import { resolveTime } from './format';

export const AUDIT_FIELDS = ['user', 'since', 'until', 'path', 'method', 'status', 'ip', 'limit'] as const;

// The audit API's query string from the page state: only known, non-empty fields, trimmed.
export function auditParams(state: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const k of AUDIT_FIELDS) {
    const v = state[k]?.trim();
    if (v) q.set(k, k === 'method' ? v.toUpperCase() : v);
  }
  return q.toString();
}

// A fixed_interval giving about `buckets` bars over [from, to] (ms), from a list of round sizes.
export function pickInterval(from: number, to: number, buckets = 60): string {
  const span = Math.max(1, to - from);
  const steps: [number, string][] = [
    [1_000, '1s'], [5_000, '5s'], [10_000, '10s'], [30_000, '30s'], [60_000, '1m'], [300_000, '5m'],
    [600_000, '10m'], [1_800_000, '30m'], [3_600_000, '1h'], [10_800_000, '3h'], [43_200_000, '12h'], [86_400_000, '1d'],
  ];
  for (const [ms, name] of steps) if (span / ms <= buckets) return name;
  return '7d';
}

export interface LogsState {
  env: string;
  q?: string;
  from?: string; // duration back from now ("15m") or ISO time
  to?: string;
  field?: string; // the timestamp field
}

export const ENVS = ['dev', 'stage', 'prod'] as const;

export function logsIndex(env: string): string {
  return `logs-${env}`;
}

// The `_search` body: query_string (or match_all), a range on the time field, newest first, and a
// date_histogram over the range for the chart.
export function logsSearchBody(s: LogsState, now: number, size = 100): Record<string, unknown> {
  const field = s.field || '@timestamp';
  const from = resolveTime(s.from || '15m', now) ?? now - 900_000;
  const to = resolveTime(s.to || 'now', now) ?? now;
  const must: unknown[] = s.q?.trim()
    ? [{ query_string: { query: s.q.trim(), default_operator: 'AND' } }]
    : [{ match_all: {} }];
  return {
    size,
    sort: [{ [field]: { order: 'desc' } }],
    query: {
      bool: {
        must,
        filter: [{ range: { [field]: { gte: new Date(from).toISOString(), lte: new Date(to).toISOString() } } }],
      },
    },
    aggs: {
      histogram: {
        date_histogram: {
          field,
          fixed_interval: pickInterval(from, to),
          min_doc_count: 0,
          extended_bounds: { min: from, max: to },
        },
      },
    },
  };
}

// Newer than `after` (ms), oldest first: what live tail polls for.
export function tailBody(s: LogsState, after: number, size = 200): Record<string, unknown> {
  const field = s.field || '@timestamp';
  const must: unknown[] = s.q?.trim() ? [{ query_string: { query: s.q.trim(), default_operator: 'AND' } }] : [{ match_all: {} }];
  return {
    size,
    sort: [{ [field]: { order: 'asc' } }],
    query: { bool: { must, filter: [{ range: { [field]: { gt: new Date(after).toISOString() } } }] } },
  };
}

// Graph search: node names are matched by prefix; trims and caps the length.
export function graphSearchPath(q: string, label?: string, limit = 20): string {
  const p = new URLSearchParams({ q: q.trim().slice(0, 200), limit: String(limit) });
  if (label) p.set('label', label);
  return `/api/graph/search?${p.toString()}`;
}

// The recommendation endpoint for a node, by its first label: people get companies, jobs and
// companies get candidates. null for other labels.
export function recommendPath(labels: string[], id: number | string): string | null {
  if (labels.includes('Person')) return `/api/graph/recommend/companies?person=${encodeURIComponent(String(id))}`;
  if (labels.includes('Job')) return `/api/graph/recommend/candidates?job=${encodeURIComponent(String(id))}`;
  if (labels.includes('Company')) return `/api/graph/recommend/candidates?company=${encodeURIComponent(String(id))}`;
  return null;
}

// A stable colour per label (the same label is the same colour on every page load).
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export function labelColor(label: string): string {
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return PALETTE[h % PALETTE.length];
}
