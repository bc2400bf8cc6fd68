import { describe, expect, it } from 'vitest';
import { parseRoute, routeToUrl } from '../src/lib/url';

describe('URL state', () => {
  it('parses the page and the query', () => {
    expect(parseRoute('/ui/oplog', '?user=alice&since=1h')).toEqual({ page: 'oplog', params: { user: 'alice', since: '1h' } });
    expect(parseRoute('/ui/', '')).toEqual({ page: 'overview', params: {} });
    expect(parseRoute('/ui/logs/', '?q=&env=prod')).toEqual({ page: 'logs', params: { env: 'prod' } });
  });
  it('round-trips, with sorted keys and empty values dropped', () => {
    const url = routeToUrl({ page: 'oplog', params: { user: '田中', path: '/candidates/*', method: '' } });
    expect(url).toBe('/ui/oplog?path=%2Fcandidates%2F*&user=%E7%94%B0%E4%B8%AD');
    const [p, s] = url.split('?');
    expect(parseRoute(p, `?${s}`)).toEqual({ page: 'oplog', params: { user: '田中', path: '/candidates/*' } });
  });
  it('puts the overview at the root', () => {
    expect(routeToUrl({ page: 'overview', params: {} })).toBe('/ui/');
  });
  it('keeps query_string syntax intact', () => {
    const q = 'level:ERROR AND (service:api OR service:"web app") -debug';
    const url = routeToUrl({ page: 'logs', params: { q } });
    expect(parseRoute('/ui/logs', url.slice(url.indexOf('?'))).params.q).toBe(q);
  });
});
