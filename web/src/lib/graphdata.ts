// Turning the graph API's answers into graphology nodes/edges, and a synthetic graph for the
// frame-rate test. Pure functions (unit-tested).
export interface ApiNode {
  id: number;
  labels: string[];
  properties: Record<string, unknown>;
}
export interface SigmaJson {
  nodes: { key: string; attributes: { label: string; x: number; y: number; size: number; node?: ApiNode } }[];
  edges: { key: string; source: string; target: string; attributes: { label: string } }[];
}
export interface ApiPath {
  nodes: ApiNode[];
  relationships: { id: number; type: string; start: number; end: number }[];
}

export function nodeName(n: ApiNode): string {
  const p = n.properties ?? {};
  const v = p.name ?? p.title ?? p.id;
  return `${n.labels[0] ?? ''}${n.labels.length ? ': ' : ''}${v === undefined ? `#${n.id}` : String(v)}`;
}

// A deterministic pseudo-random generator (mulberry32), so the fixture is the same every run.
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// `elements` nodes + edges in total (half each), People/Companies/Jobs in clusters.
export function fixtureGraph(elements: number, seed = 42): SigmaJson {
  const r = rng(seed);
  const n = Math.max(2, Math.floor(elements / 2));
  const m = elements - n;
  const labels = ['Person', 'Company', 'Job'];
  const nodes: SigmaJson['nodes'] = [];
  for (let i = 0; i < n; i++) {
    const label = labels[i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2];
    const cluster = Math.floor(r() * 12);
    const cx = Math.cos(cluster) * 100;
    const cy = Math.sin(cluster) * 100;
    const a = r() * Math.PI * 2;
    const d = Math.sqrt(r()) * 40;
    nodes.push({
      key: String(i),
      attributes: {
        label: `${label}: ${label === 'Person' ? '候補者' : label === 'Company' ? '株式会社' : 'Job'} ${i}`,
        x: cx + Math.cos(a) * d,
        y: cy + Math.sin(a) * d,
        size: 2 + r() * 3,
        node: { id: i, labels: [label], properties: { name: `${label} ${i}` } },
      },
    });
  }
  const edges: SigmaJson['edges'] = [];
  for (let j = 0; j < m; j++) {
    const s = Math.floor(r() * n);
    let t = Math.floor(r() * n);
    if (t === s) t = (t + 1) % n;
    edges.push({ key: `f${j}`, source: String(s), target: String(t), attributes: { label: 'KNOWS' } });
  }
  return { nodes, edges };
}
