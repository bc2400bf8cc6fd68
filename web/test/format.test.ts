import { describe, expect, it } from 'vitest';
import { formatBytes, formatMs, formatPercent, formatTime, parseDuration, parsePrometheus, perMinuteByStatus, resolveTime, sessionRatios, statusClass, sumMetric } from '../src/lib/format';
import { fixtureGraph, nodeName } from '../src/lib/graphdata';
import { classifyError } from '../src/lib/api';

describe('durations and times', () => {
  it('parses durations', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('')).toBeNull();
    expect(parseDuration('15')).toBeNull();
    expect(parseDuration('1x')).toBeNull();
    expect(parseDuration('-1h')).toBeNull();
  });
  it('resolves relative and absolute times', () => {
    const now = 1_000_000_000_000;
    expect(resolveTime('1h', now)).toBe(now - 3_600_000);
    expect(resolveTime('now', now)).toBe(now);
    expect(resolveTime('2026-11-26T00:00:00Z', now)).toBe(Date.parse('2026-11-26T00:00:00Z'));
    expect(resolveTime('garbage', now)).toBeNull();
    expect(resolveTime(undefined, now)).toBeNull();
  });
  it('formats', () => {
    expect(formatTime('not a time')).toBe('');
    expect(formatTime(new Date(2026, 10, 26, 9, 5, 7))).toBe('2026-11-26 09:05:07');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(200 * 1024 * 1024)).toBe('200 MiB');
    expect(formatMs(0.25)).toBe('250 µs');
    expect(formatMs(12.3)).toBe('12 ms');
    expect(formatMs(2500)).toBe('2.50 s');
    expect(formatPercent(0.5)).toBe('50.0 %');
    expect(formatPercent(1)).toBe('100 %');
    expect(formatPercent(NaN)).toBe('–');
  });
});

describe('status', () => {
  it('classes', () => {
    expect(statusClass(200)).toBe('2xx');
    expect(statusClass(302)).toBe('3xx');
    expect(statusClass(404)).toBe('4xx');
    expect(statusClass(503)).toBe('5xx');
    expect(statusClass(0)).toBe('other');
  });
  it('counts requests per minute by status, zero-filled', () => {
    const r = perMinuteByStatus([
      { time: '2026-11-26T10:00:05Z', status: 200 },
      { time: '2026-11-26T10:00:55Z', status: 500 },
      { time: '2026-11-26T10:02:01Z', status: 404 },
      { time: 'bad', status: 200 },
    ]);
    expect(r.x).toEqual([0, 60, 120].map((d) => Date.parse('2026-11-26T10:00:00Z') / 1000 + d));
    expect(r.series['2xx']).toEqual([1, 0, 0]);
    expect(r.series['5xx']).toEqual([1, 0, 0]);
    expect(r.series['4xx']).toEqual([0, 0, 1]);
    expect(perMinuteByStatus([]).x).toEqual([]);
    const padded = perMinuteByStatus([{ time: '2026-11-26T10:00:05Z', status: 200 }], 10);
    expect(padded.x.length).toBe(10);
    expect(padded.series['2xx']).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });
});

describe('prometheus', () => {
  it('parses samples and labels, skipping comments and junk', () => {
    const s = parsePrometheus(
      '# HELP x y\n# TYPE hakone_gateway_requests_total counter\nhakone_gateway_requests_total{code="200"} 10\n' +
        'hakone_gateway_requests_total{code="500",path="a\\"b"} 2\nhakone_up 1\nnot a metric line {\n',
    );
    expect(s).toHaveLength(3);
    expect(s[1].labels.path).toBe('a"b');
    expect(sumMetric(s, 'hakone_gateway_requests_total')).toBe(12);
    expect(sumMetric(s, 'hakone_gateway_requests_total', { code: '500' })).toBe(2);
    expect(sumMetric(s, 'missing')).toBe(0);
  });
});

describe('errors', () => {
  it('classifies the console error shapes', () => {
    expect(classifyError(401, {}).kind).toBe('unauthorized');
    expect(classifyError(403, {}).kind).toBe('forbidden');
    expect(classifyError(502, { error: { type: 'upstream_unavailable', reason: 'graph at x is not running' } }).kind).toBe('not_running');
    expect(classifyError(503, { error: { type: 'component_not_configured', reason: 'r' } }).message).toBe('r');
    expect(classifyError(404, 'no route').kind).toBe('not_running');
    expect(classifyError(400, { error: { reason: 'bad since' } }).message).toBe('bad since');
    expect(classifyError(500, '').kind).toBe('error');
  });
});

describe('graph fixture', () => {
  it('has exactly the requested number of elements, deterministically', () => {
    const g = fixtureGraph(10_000);
    expect(g.nodes.length + g.edges.length).toBe(10_000);
    expect(fixtureGraph(100).edges).toEqual(fixtureGraph(100).edges);
    for (const e of g.edges) expect(e.source).not.toBe(e.target);
  });
  it('names nodes', () => {
    expect(nodeName({ id: 3, labels: ['Person'], properties: { name: '田中 美咲' } })).toBe('Person: 田中 美咲');
    expect(nodeName({ id: 3, labels: [], properties: {} })).toBe('#3');
  });
});

describe('session ratios', () => {
  it('computes hit ratio and read-through rate from INFO', () => {
    const r = sessionRatios({ keyspace_hits: '80', keyspace_misses: '20' }, { durable_reads: '15' });
    expect(r.hitRatio).toBe(0.8);
    expect(r.readThrough).toBe(0.15);
    expect(Number.isNaN(sessionRatios({}, {}).hitRatio)).toBe(true);
  });
});
