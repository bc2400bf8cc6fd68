import { api } from '../lib/api';
import { formatMs, parsePrometheus, sumMetric } from '../lib/format';
import { ErrorBox, Loading, Panel, useAsync } from '../lib/ui';
import type { PageProps } from '../main';

interface Upstream {
  name: string;
  address: string;
  configured: boolean;
  up: boolean;
  status?: number;
  ms?: number;
  error?: string;
}

const NAMES: Record<string, string> = {
  gateway_admin: 'Gateway (operation log)',
  store: 'Store (search API)',
  graph: 'Graph',
  agent: 'Agent (logs, alerts)',
  crawl: 'Crawler',
  sessions: 'Sessions',
};

export function Overview(_: PageProps) {
  const status = useAsync(() => api<Upstream[]>('/api/console/status'), 'status');
  const metrics = useAsync(async () => parsePrometheus(await api<string>('/api/gateway/metrics')), 'metrics');
  return (
    <div>
      <Panel title="Components" id="components">
        {status.loading && !status.data && <Loading what="component health" />}
        {status.error ? <ErrorBox error={status.error} /> : null}
        {status.data && (
          <ul class="cards" aria-label="component health">
            {status.data.map((u) => (
              <li class={`card ${u.up ? 'up' : u.configured ? 'down' : 'off'}`} data-component={u.name}>
                <strong>{NAMES[u.name] ?? u.name}</strong>
                <span class="state">{u.up ? 'up' : u.configured ? 'down' : 'not configured'}</span>
                <span class="muted">{u.address || '—'}</span>
                {u.ms !== undefined && <span class="muted">{formatMs(u.ms)}</span>}
                {u.error && <span class="muted">{u.error}</span>}
              </li>
            ))}
          </ul>
        )}
        <button onClick={status.reload}>Refresh</button>
      </Panel>
      <Panel title="Gateway" id="gateway-metrics">
        {metrics.loading && !metrics.data && <Loading what="gateway metrics" />}
        {metrics.error ? <ErrorBox error={metrics.error} component="The gateway" /> : null}
        {metrics.data && (
          <dl class="kv">
            <dt>Requests</dt>
            <dd data-metric="requests">{sumMetric(metrics.data, 'hakone_gateway_requests_total')}</dd>
            <dt>Audit events</dt>
            <dd>{sumMetric(metrics.data, 'hakone_gateway_events_total')}</dd>
            <dt>Upstream errors</dt>
            <dd>{sumMetric(metrics.data, 'hakone_gateway_upstream_errors_total')}</dd>
            <dt>Active connections</dt>
            <dd>{sumMetric(metrics.data, 'hakone_gateway_active_connections')}</dd>
            <dt>Spool dropped</dt>
            <dd>{sumMetric(metrics.data, 'hakone_spool_dropped_total')}</dd>
          </dl>
        )}
      </Panel>
    </div>
  );
}
