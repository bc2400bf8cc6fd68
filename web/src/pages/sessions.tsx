import { api } from '../lib/api';
import { formatBytes, formatPercent, sessionRatios } from '../lib/format';
import { ErrorBox, Loading, Panel, useAsync } from '../lib/ui';
import type { PageProps } from '../main';

interface Info {
  address: string;
  info: Record<string, Record<string, string>>;
  dbsize?: number;
  key_prefixes: { prefix: string; sampled: number }[];
}

export function Sessions({ }: PageProps) {
  const res = useAsync(() => api<Info>('/api/sessions/info'), 'sessions');
  const tiers = res.data?.info.tiers ?? {};
  const stats = res.data?.info.stats ?? {};
  const r = sessionRatios(stats, tiers);
  return (
    <div>
      {res.loading && <Loading what="session store" />}
      {res.error ? <ErrorBox error={res.error} component="The session store" /> : null}
      {res.data && (
        <>
          <Panel title="Tiers" id="tiers">
            <ul class="cards">
              <li class={`card ${tiers.cache_up === '1' ? 'up' : 'down'}`}>
                <strong>Cache tier ({tiers.cache_tier ?? '?'})</strong>
                <span class="state">{tiers.cache_up === '1' ? 'up' : 'down'}</span>
                <span class="muted">{tiers.cache_keys ?? 0} keys · {formatBytes(Number(tiers.cache_bytes ?? 0))}</span>
              </li>
              <li class={`card ${tiers.durable_up === '1' ? 'up' : 'down'}`}>
                <strong>Durable tier ({tiers.durable_tier ?? '?'})</strong>
                <span class="state">{tiers.durable_up === '1' ? 'up' : 'down'}</span>
                <span class="muted">{tiers.durability} · {tiers.durable_commits ?? 0} commits · {tiers.durable_commit_errors ?? 0} errors</span>
              </li>
            </ul>
          </Panel>
          <Panel title="Reads" id="reads">
            <dl class="kv">
              <dt>Hit ratio</dt><dd id="hit-ratio">{formatPercent(r.hitRatio)}</dd>
              <dt>Read-through rate</dt><dd>{formatPercent(r.readThrough)}</dd>
              <dt>Hits / misses</dt><dd>{r.hits} / {r.misses}</dd>
              <dt>Connected clients</dt><dd>{res.data.info.clients?.connected_clients ?? '–'}</dd>
            </dl>
          </Panel>
          <Panel title="Keys" id="keys">
            <p>{res.data.dbsize ?? '–'} keys in db 0. Sampled by prefix (key names without their ids):</p>
            <ul>{res.data.key_prefixes.map((p) => <li><code>{p.prefix}</code> {p.sampled}</li>)}</ul>
          </Panel>
        </>
      )}
    </div>
  );
}
