import Graph from 'graphology';
import Sigma from 'sigma';
import { EdgeLineProgram, NodePointProgram } from 'sigma/rendering';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { type ApiNode, type ApiPath, fixtureGraph, nodeName, type SigmaJson } from '../lib/graphdata';
import { graphSearchPath, labelColor, recommendPath } from '../lib/query';
import { ErrorBox, Loading, Panel } from '../lib/ui';
import type { PageProps } from '../main';

interface Rec {
  columns: string[];
  rows: [ApiNode, number, ApiPath[]][];
}

declare global {
  interface Window {
    // For the browser test: animates the camera for `ms` and returns the frames rendered per second.
    __hakoneGraphFps?: (ms: number) => Promise<{ fps: number; frames: number; nodes: number; edges: number }>;
  }
}

function merge(g: Graph, data: SigmaJson, around?: { x: number; y: number }) {
  for (const n of data.nodes) {
    const labels = n.attributes.node?.labels ?? [n.attributes.label.split(':')[0]];
    const attrs = {
      label: n.attributes.label,
      size: n.attributes.size ?? 4,
      color: labelColor(labels[0] ?? ''),
      nodeLabels: labels,
      apiNode: n.attributes.node,
    };
    if (g.hasNode(n.key)) g.mergeNodeAttributes(n.key, attrs);
    else g.addNode(n.key, { ...attrs, x: (around?.x ?? 0) + n.attributes.x, y: (around?.y ?? 0) + n.attributes.y });
  }
  for (const e of data.edges) {
    if (!g.hasEdge(e.key) && g.hasNode(e.source) && g.hasNode(e.target)) {
      g.addDirectedEdgeWithKey(e.key, e.source, e.target, { label: e.attributes.label, size: 1, color: '#bbb' });
    }
  }
}

export function GraphPage({ params, setParams }: PageProps) {
  const container = useRef<HTMLDivElement>(null);
  const graph = useRef(new Graph({ multi: true }));
  const sigma = useRef<Sigma | null>(null);
  const [q, setQ] = useState(params.q ?? '');
  const [found, setFound] = useState<ApiNode[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState('');
  const [selected, setSelected] = useState<ApiNode | null>(null);
  const [recs, setRecs] = useState<Rec | null>(null);
  const [counts, setCounts] = useState({ nodes: 0, edges: 0 });
  const [legend, setLegend] = useState<string[]>([]);
  const highlight = useRef<Set<string>>(new Set());

  const refreshCounts = () => {
    const g = graph.current;
    setCounts({ nodes: g.order, edges: g.size });
    const ls = new Set<string>();
    g.forEachNode((_, a) => ls.add((a.nodeLabels as string[])?.[0] ?? ''));
    setLegend([...ls].filter(Boolean).sort());
  };

  const expand = async (id: string) => {
    setLoading('neighbours');
    setError(null);
    try {
      const g = graph.current;
      const around = g.hasNode(id) ? { x: g.getNodeAttribute(id, 'x') as number, y: g.getNodeAttribute(id, 'y') as number } : undefined;
      const data = await api<SigmaJson>(`/api/graph/neighbours?id=${encodeURIComponent(id)}&per_type=50`);
      merge(g, data, around);
      refreshCounts();
      const center = data.nodes.find((n) => n.key === id);
      if (center?.attributes.node) setSelected(center.attributes.node);
    } catch (e) {
      setError(e);
    } finally {
      setLoading('');
    }
  };

  useEffect(() => {
    if (!container.current) return;
    const s = new Sigma(graph.current, container.current, {
      renderEdgeLabels: false,
      // The cheapest programs: one vertex per node (gl.POINTS) and 1-px lines, so that 10,000
      // elements stay smooth even on modest GPUs.
      defaultNodeType: 'point',
      defaultEdgeType: 'line',
      nodeProgramClasses: { point: NodePointProgram },
      edgeProgramClasses: { line: EdgeLineProgram },
      labelRenderedSizeThreshold: 8,
      hideEdgesOnMove: false,
      nodeReducer: (key, data) =>
        highlight.current.size && !highlight.current.has(key) ? { ...data, color: '#ddd', label: '' } : data,
      edgeReducer: (key, data) => (highlight.current.size && !highlight.current.has(key) ? { ...data, hidden: true } : data),
    });
    sigma.current = s;
    s.on('clickNode', ({ node }) => {
      setParams({ ...params, focus: node }, true);
      void expand(node);
    });
    window.__hakoneGraphFps = (ms: number) =>
      new Promise((resolve) => {
        let frames = 0;
        const cam = s.getCamera();
        const onRender = () => frames++;
        s.on('afterRender', onRender);
        const t0 = performance.now();
        const step = () => {
          const t = performance.now() - t0;
          cam.setState({ angle: t / 2000, ratio: 0.8 + 0.3 * Math.sin(t / 500) });
          if (t < ms) requestAnimationFrame(step);
          else {
            s.off('afterRender', onRender);
            resolve({ fps: (frames * 1000) / t, frames, nodes: graph.current.order, edges: graph.current.size });
          }
        };
        requestAnimationFrame(step);
      });
    // Deep links: a fixture, or a node to expand.
    if (params.fixture) {
      merge(graph.current, fixtureGraph(Math.min(100_000, Number(params.fixture) || 10_000)));
      refreshCounts();
    } else if (params.focus) {
      void expand(params.focus);
    }
    return () => {
      s.kill();
      sigma.current = null;
      delete window.__hakoneGraphFps;
    };
  }, []);

  // The search runs when the URL's q changes (so a deep link searches on load).
  useEffect(() => {
    if (!params.q) return;
    setLoading('search');
    setError(null);
    api<{ nodes: ApiNode[] }>(graphSearchPath(params.q)).then(
      (r) => { setFound(r.nodes); setLoading(''); },
      (e) => { setError(e); setFound(null); setLoading(''); },
    );
  }, [params.q]);

  useEffect(() => {
    setRecs(null);
    const path = selected ? recommendPath(selected.labels, selected.id) : null;
    if (!path) return;
    api<Rec>(path).then(setRecs, () => setRecs(null));
  }, [selected?.id]);

  const showPath = (p: ApiPath) => {
    const g = graph.current;
    merge(g, {
      nodes: p.nodes.map((n, i) => ({ key: String(n.id), attributes: { label: nodeName(n), x: i * 5, y: 0, size: 5, node: n } })),
      edges: p.relationships.map((r) => ({ key: `r${r.id}`, source: String(r.start), target: String(r.end), attributes: { label: r.type } })),
    });
    highlight.current = new Set([...p.nodes.map((n) => String(n.id)), ...p.relationships.map((r) => `r${r.id}`)]);
    refreshCounts();
    sigma.current?.refresh();
  };

  return (
    <div class="graph-page">
      <form class="querybar" role="search" onSubmit={(e) => { e.preventDefault(); setParams({ q: q.trim() }, true); }}>
        <label for="graph-q" class="sr-only">Search a person or company</label>
        <input id="graph-q" value={q} placeholder="田中 / Acme / a name prefix" onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <button type="submit">Search</button>
        <button type="button" onClick={() => { graph.current.clear(); highlight.current.clear(); refreshCounts(); setSelected(null); }}>Clear graph</button>
      </form>
      {loading && <Loading what={loading} />}
      {error ? <ErrorBox error={error} component="The graph" /> : null}
      <div class="graph-grid">
        <aside>
          {found && (
            <Panel title="Matches" id="matches">
              {found.length === 0 && <p class="muted">No node starts with “{params.q}”.</p>}
              <ul class="matches">
                {found.map((n) => (
                  <li><button class="link" onClick={() => { setParams({ ...params, focus: String(n.id) }, true); void expand(String(n.id)); }}>{nodeName(n)}</button></li>
                ))}
              </ul>
            </Panel>
          )}
          {selected && (
            <Panel title={nodeName(selected)} id="selected">
              <dl class="kv">{Object.entries(selected.properties).map(([k, v]) => <><dt>{k}</dt><dd>{String(v)}</dd></>)}</dl>
              {recs && (
                <>
                  <h3>Recommendations</h3>
                  <ol class="recs">
                    {recs.rows.map(([n, score, paths]) => (
                      <li>
                        <strong>{nodeName(n)}</strong> <span class="muted">{Number(score).toFixed(3)}</span>
                        {paths.slice(0, 3).map((p) => (
                          <button class="link path" onClick={() => showPath(p)}>
                            {p.nodes.map(nodeName).join(' → ')}
                          </button>
                        ))}
                      </li>
                    ))}
                  </ol>
                  {recs.rows.length === 0 && <p class="muted">No recommendation.</p>}
                </>
              )}
            </Panel>
          )}
          <Panel title="Labels" id="legend">
            <ul class="legend">{legend.map((l) => <li><span class="dot" style={{ background: labelColor(l) }} /> {l}</li>)}</ul>
            <p class="muted" id="graph-counts">{counts.nodes} nodes · {counts.edges} edges</p>
            {highlight.current.size > 0 && <button class="link" onClick={() => { highlight.current.clear(); sigma.current?.refresh(); refreshCounts(); }}>clear highlight</button>}
          </Panel>
        </aside>
        <div class="sigma" ref={container} aria-label="graph view: click a node to expand its neighbourhood" role="img" />
      </div>
    </div>
  );
}
