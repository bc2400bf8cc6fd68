// Formatting and small parsers shared by the pages.

export function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

// "2026-11-26 23:41:07" in local time (ms precision dropped); "" for invalid input.
export function formatTime(t: string | number | Date): string {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function formatPercent(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(x >= 0.995 || x === 0 ? 0 : 1)} %`;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

// "15m", "1h30m", "7d" -> milliseconds; null when not a duration.
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (!/^(\d+[smhdw])+$/.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(/(\d+)([smhdw])/g)) total += Number(m[1]) * UNIT_MS[m[2]];
  return total;
}

// A time given as a duration back from `now` ("1h"), "now", or anything Date parses (ISO 8601).
export function resolveTime(text: string | undefined, now: number): number | null {
  if (!text) return null;
  if (text === 'now') return now;
  const d = parseDuration(text);
  if (d !== null) return now - d;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}

export function statusClass(status: number): string {
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  if (status >= 200) return '2xx';
  return 'other';
}

export const STATUS_CLASSES = ['2xx', '3xx', '4xx', '5xx'] as const;

// Requests per minute by status class from audit events: x = minute starts (seconds since the
// epoch, as uPlot wants), one series per class, zero-filled between the first and last minute.
// minBuckets: extend the range back so that at least this many minutes are shown (a chart of one
// bar would otherwise have no time scale).
export function perMinuteByStatus(events: { time: string; status: number }[], minBuckets = 1): {
  x: number[];
  series: Record<string, number[]>;
} {
  const counts = new Map<number, Record<string, number>>();
  let lo = Infinity;
  let hi = -Infinity;
  for (const e of events) {
    const t = Date.parse(e.time);
    if (Number.isNaN(t)) continue;
    const m = Math.floor(t / 60_000) * 60;
    lo = Math.min(lo, m);
    hi = Math.max(hi, m);
    const c = counts.get(m) ?? {};
    const k = statusClass(e.status);
    c[k] = (c[k] ?? 0) + 1;
    counts.set(m, c);
  }
  const x: number[] = [];
  const series: Record<string, number[]> = Object.fromEntries(STATUS_CLASSES.map((k) => [k, [] as number[]]));
  if (lo === Infinity) return { x, series };
  lo = Math.min(lo, hi - (minBuckets - 1) * 60);
  for (let m = lo; m <= hi; m += 60) {
    x.push(m);
    const c = counts.get(m) ?? {};
    for (const k of STATUS_CLASSES) series[k].push(c[k] ?? 0);
  }
  return { x, series };
}

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// The Prometheus text exposition format (enough of it: comments skipped, labels unescaped).
export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(v) && m[4] !== 'NaN') continue;
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}

export function sumMetric(samples: PromSample[], name: string, filter: Record<string, string> = {}): number {
  let s = 0;
  for (const x of samples) {
    if (x.name !== name) continue;
    if (Object.entries(filter).every(([k, v]) => x.labels[k] === v)) s += x.value;
  }
  return s;
}

// Hit ratio = hits / (hits + misses); read-through rate = misses answered by the durable tier /
// all reads (durable_reads / (hits + misses)).
export function sessionRatios(stats: Record<string, string>, tiers: Record<string, string>) {
  const hits = Number(stats.keyspace_hits ?? 0);
  const misses = Number(stats.keyspace_misses ?? 0);
  const reads = hits + misses;
  const durable = Number(tiers.durable_reads ?? 0);
  return { hits, misses, hitRatio: reads ? hits / reads : NaN, readThrough: reads ? durable / reads : NaN };
}
