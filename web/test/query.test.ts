import { describe, expect, it } from 'vitest';
import { auditParams, graphSearchPath, labelColor, logsIndex, logsSearchBody, pickInterval, recommendPath, tailBody } from '../src/lib/query';

describe('auditParams', () => {
  it('keeps known non-empty fields, trimmed, method upper-cased', () => {
    expect(auditParams({ user: ' alice ', method: 'post', path: '', bogus: 'x', since: '1h' })).toBe('user=alice&since=1h&method=POST');
  });
  it('encodes globs, CIDRs and Japanese', () => {
    const q = new URLSearchParams(auditParams({ path: '/candidates/*', ip: '10.0.0.0/8', user: '田中' }));
    expect(q.get('path')).toBe('/candidates/*');
    expect(q.get('ip')).toBe('10.0.0.0/8');
    expect(q.get('user')).toBe('田中');
  });
  it('gives an empty string for an empty state', () => {
    expect(auditParams({})).toBe('');
  });
});

describe('logs queries', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  it('builds query_string, range and date_histogram', () => {
    const b = logsSearchBody({ env: 'prod', q: 'level:ERROR AND "timeout"', from: '1h' }, now) as any;
    expect(b.query.bool.must[0].query_string.query).toBe('level:ERROR AND "timeout"');
    expect(b.query.bool.filter[0].range['@timestamp'].gte).toBe('2026-11-26T11:00:00.000Z');
    expect(b.query.bool.filter[0].range['@timestamp'].lte).toBe('2026-11-26T12:00:00.000Z');
    expect(b.aggs.histogram.date_histogram.fixed_interval).toBe('1m');
    expect(b.aggs.histogram.date_histogram.extended_bounds).toEqual({ min: now - 3_600_000, max: now });
    expect(b.sort[0]['@timestamp'].order).toBe('desc');
  });
  it('uses match_all for an empty query and honours a custom time field and absolute range', () => {
    const b = logsSearchBody({ env: 'dev', q: '  ', from: '2026-11-26T10:00:00Z', to: '2026-11-26T10:30:00Z', field: 'time' }, now) as any;
    expect(b.query.bool.must[0]).toEqual({ match_all: {} });
    expect(b.query.bool.filter[0].range.time.gte).toBe('2026-11-26T10:00:00.000Z');
    expect(b.aggs.histogram.date_histogram.fixed_interval).toBe('30s');
  });
  it('falls back to the last 15 minutes on a bad time', () => {
    const b = logsSearchBody({ env: 'dev', from: 'yesterday-ish' }, now) as any;
    expect(b.query.bool.filter[0].range['@timestamp'].gte).toBe('2026-11-26T11:45:00.000Z');
  });
  it('tails after a time, oldest first', () => {
    const b = tailBody({ env: 'prod' }, now) as any;
    expect(b.sort[0]['@timestamp'].order).toBe('asc');
    expect(b.query.bool.filter[0].range['@timestamp'].gt).toBe('2026-11-26T12:00:00.000Z');
  });
  it('names indices per environment', () => {
    expect(logsIndex('stage')).toBe('logs-stage');
  });
  it('picks round intervals', () => {
    expect(pickInterval(0, 60_000)).toBe('1s');
    expect(pickInterval(0, 3_600_000)).toBe('1m');
    expect(pickInterval(0, 86_400_000)).toBe('30m');
    expect(pickInterval(0, 30 * 86_400_000)).toBe('12h');
    expect(pickInterval(0, 365 * 86_400_000)).toBe('7d');
    expect(pickInterval(5, 5)).toBe('1s');
  });
});

describe('graph helpers', () => {
  it('builds the search path with Japanese prefixes', () => {
    const p = graphSearchPath(' 田中 ', 'Person', 5);
    const q = new URLSearchParams(p.split('?')[1]);
    expect(p.startsWith('/api/graph/search?')).toBe(true);
    expect(q.get('q')).toBe('田中');
    expect(q.get('label')).toBe('Person');
    expect(q.get('limit')).toBe('5');
  });
  it('picks the recommendation by label', () => {
    expect(recommendPath(['Person'], 3)).toBe('/api/graph/recommend/companies?person=3');
    expect(recommendPath(['Job'], 'Job:7')).toBe('/api/graph/recommend/candidates?job=Job%3A7');
    expect(recommendPath(['Company'], 1)).toBe('/api/graph/recommend/candidates?company=1');
    expect(recommendPath(['Skill'], 1)).toBeNull();
  });
  it('gives a stable colour per label', () => {
    expect(labelColor('Person')).toBe(labelColor('Person'));
    expect(labelColor('Person')).toMatch(/^#[0-9a-f]{6}$/);
  });
});
