import { api } from '../lib/api';
import { formatTime, parsePrometheus } from '../lib/format';
import { ENVS } from '../lib/query';
import { ErrorBox, Loading, Panel, useAsync } from '../lib/ui';
import type { PageProps } from '../main';

// GET /api/agent/alerts (the agent's admin listener, through the console):
// {"rules":[{"env","name","query","threshold","window","state":"ok|firing","last_fired"}],
//  "history":[{"time","env","rule","state","count"}]}
interface Rule {
  env: string;
  name: string;
  query: string;
  threshold: number;
  window: string;
  state: string;
  last_fired?: string;
}
interface AlertsResp {
  rules: Rule[];
  history: { time: string; env: string; rule: string; state: string; count: number }[];
}

export function Alerts({ params, setParams }: PageProps) {
  const env = params.env ?? '';
  const res = useAsync(() => api<AlertsResp>('/api/agent/alerts'), 'alerts');
  const metrics = useAsync(async () => parsePrometheus(await api<string>('/api/agent/metrics')), 'agent-metrics');
  const rules = (res.data?.rules ?? []).filter((r) => !env || r.env === env);
  const history = (res.data?.history ?? []).filter((h) => !env || h.env === env);
  // The agent's metrics about alerting: by name, or labelled with a component named like an alert sink.
  const isAlerting = (v: string) => /alert|slack/i.test(v);
  const alertSamples = (metrics.data ?? []).filter((s) => isAlerting(s.name) || Object.values(s.labels).some(isAlerting));
  return (
    <div>
      <div role="tablist" aria-label="Environment" class="tabs">
        {['', ...ENVS].map((e) => (
          <button role="tab" aria-selected={e === env} onClick={() => setParams(e ? { env: e } : {}, true)}>{e || 'all'}</button>
        ))}
      </div>
      <Panel title="Rules" id="rules">
        {res.loading && <Loading what="alert rules" />}
        {res.error ? <ErrorBox error={res.error} component="The agent" /> : null}
        {res.data && (
          <div class="table-wrap">
            <table>
              <thead><tr><th>Env</th><th>Rule</th><th>Query</th><th>Threshold</th><th>State</th><th>Last fired</th></tr></thead>
              <tbody>
                {rules.map((r) => (
                  <tr class={r.state === 'firing' ? 'firing' : ''}>
                    <td>{r.env}</td><td>{r.name}</td><td><code>{r.query}</code></td><td>{r.threshold} / {r.window}</td>
                    <td>{r.state}</td><td>{r.last_fired ? formatTime(r.last_fired) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
      <Panel title="Firing history" id="history">
        {res.data && history.length === 0 && <p class="muted">No alert has fired.</p>}
        <ul>{history.map((h) => <li>{formatTime(h.time)} · {h.env} · {h.rule} · {h.state} ({h.count})</li>)}</ul>
      </Panel>
      <Panel title="Agent alert metrics" id="alert-metrics">
        {metrics.error ? <ErrorBox error={metrics.error} component="The agent" /> : null}
        {metrics.data && alertSamples.length === 0 && <p class="muted">No alert metrics exported.</p>}
        <ul>{alertSamples.map((s) => <li><code>{s.name}{JSON.stringify(s.labels)}</code> {s.value}</li>)}</ul>
      </Panel>
    </div>
  );
}
