import { api } from '../lib/api';
import { formatTime } from '../lib/format';
import { ErrorBox, Loading, Panel, useAsync } from '../lib/ui';
import type { PageProps } from '../main';

// GET /api/crawl/runs -> {"runs":[{"id","started","finished","state","pages","errors","postings"}]}
// GET /api/crawl/runs/{id} -> the run plus "hosts":[{"host","pages","errors","status","robots"}]
//   and "postings":[{"title","company","url"}]
interface Run {
  id: string;
  started: string;
  finished?: string;
  state: string;
  pages: number;
  errors: number;
  postings: number;
}
interface RunDetail extends Run {
  hosts: { host: string; pages: number; errors: number; status: string }[];
  postings_sample?: { title: string; company?: string; url: string }[];
}

export function Crawler({ params, setParams }: PageProps) {
  const runs = useAsync(() => api<{ runs: Run[] }>('/api/crawl/runs'), 'runs');
  const run = params.run;
  const detail = useAsync(() => (run ? api<RunDetail>(`/api/crawl/runs/${encodeURIComponent(run)}`) : Promise.resolve(null)), `run:${run ?? ''}`);
  return (
    <div>
      <Panel title="Runs" id="runs">
        {runs.loading && <Loading what="crawl runs" />}
        {runs.error ? <ErrorBox error={runs.error} component="The crawler" /> : null}
        {runs.data && (
          <div class="table-wrap">
            <table>
              <thead><tr><th>Run</th><th>Started</th><th>Finished</th><th>State</th><th>Pages</th><th>Errors</th><th>Postings</th></tr></thead>
              <tbody>
                {runs.data.runs.map((r) => (
                  <tr aria-selected={r.id === run}>
                    <td><button class="link" onClick={() => setParams({ run: r.id }, true)}>{r.id}</button></td>
                    <td>{formatTime(r.started)}</td><td>{r.finished ? formatTime(r.finished) : '—'}</td><td>{r.state}</td>
                    <td>{r.pages}</td><td>{r.errors}</td><td>{r.postings}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
      {run && (
        <Panel title={`Run ${run}`} id="run">
          {detail.loading && <Loading what="the run" />}
          {detail.error ? <ErrorBox error={detail.error} component="The crawler" /> : null}
          {detail.data && (
            <>
              <table>
                <thead><tr><th>Host</th><th>Pages</th><th>Errors</th><th>Status</th></tr></thead>
                <tbody>{detail.data.hosts.map((h) => <tr><td>{h.host}</td><td>{h.pages}</td><td>{h.errors}</td><td>{h.status}</td></tr>)}</tbody>
              </table>
              <h3>Postings found</h3>
              <ul>{(detail.data.postings_sample ?? []).map((p) => <li><a href={p.url} rel="noreferrer noopener">{p.title}</a> {p.company}</li>)}</ul>
            </>
          )}
        </Panel>
      )}
    </div>
  );
}
