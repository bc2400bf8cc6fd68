// Renders every kustomize overlay under deploy/k8s/overlays with `kubectl kustomize`, validates
// every object against the Kubernetes JSON schemas shipped in the `kubernetes-models` npm package
// (ajv-compiled OpenAPI schemas of the Kubernetes API), applies hakone's policy checks, and lints
// the CI files (YAML valid, structure, referenced scripts exist) and the Containerfile.
// Usage: node validate.mjs REPO_ROOT      Exit 0 when everything passes; failures are listed.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import YAML from "yaml";

const root = path.resolve(process.argv[2] || "../..");
const here = path.dirname(new URL(import.meta.url).pathname);
const failures = [];
const fail = (where, msg) => failures.push(`${where}: ${msg}`);
let checked = 0;

async function modelFor(apiVersion, kind) {
  const file = path.join(here, "node_modules", "kubernetes-models", apiVersion, `${kind}.js`);
  if (!fs.existsSync(file)) return null;
  const mod = await import(pathToFileURL(file).href);
  return mod[kind];
}

function podSpecs(o) {
  if (o.kind === "Deployment" || o.kind === "StatefulSet" || o.kind === "DaemonSet" || o.kind === "Job")
    return [o.spec?.template?.spec];
  if (o.kind === "CronJob") return [o.spec?.jobTemplate?.spec?.template?.spec];
  return [];
}

function checkPolicies(env, objs) {
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const sas = new Map(byKind("ServiceAccount").map((s) => [s.metadata.name, s]));
  const where = (o) => `${env}/${o.kind}/${o.metadata?.name}`;
  if (byKind("Secret").length) fail(env, "Secret objects must not be rendered (reference existing Secrets)");
  const ns = `hakone-${env}`;
  if (!byKind("Namespace").some((n) => n.metadata.name === ns)) fail(env, `no Namespace ${ns}`);
  for (const o of objs) {
    if (o.kind !== "Namespace" && o.metadata?.namespace !== ns) fail(where(o), `namespace is ${o.metadata?.namespace}, want ${ns}`);
    for (const spec of podSpecs(o)) {
      if (!spec) { fail(where(o), "no pod spec"); continue; }
      const sa = sas.get(spec.serviceAccountName);
      if (!sa) fail(where(o), `serviceAccountName ${spec.serviceAccountName} has no ServiceAccount`);
      else if (sa.automountServiceAccountToken !== false) fail(where(o), "its ServiceAccount mounts a token");
      if (spec.automountServiceAccountToken !== false) fail(where(o), "automountServiceAccountToken must be false");
      const psc = spec.securityContext || {};
      if (psc.runAsNonRoot !== true) fail(where(o), "pod securityContext.runAsNonRoot must be true");
      if (psc.seccompProfile?.type !== "RuntimeDefault") fail(where(o), "seccompProfile must be RuntimeDefault");
      for (const c of spec.containers || []) {
        const sc = c.securityContext || {};
        if (sc.readOnlyRootFilesystem !== true) fail(where(o), `${c.name}: readOnlyRootFilesystem`);
        if (sc.allowPrivilegeEscalation !== false) fail(where(o), `${c.name}: allowPrivilegeEscalation`);
        if (!(sc.capabilities?.drop || []).includes("ALL")) fail(where(o), `${c.name}: capabilities.drop ALL`);
        if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) fail(where(o), `${c.name}: cpu/memory requests`);
        if (!c.resources?.limits?.memory) fail(where(o), `${c.name}: memory limit`);
        if (!c.image || c.image === "hakone") fail(where(o), `${c.name}: image not set by the overlay`);
        for (const e of c.env || []) {
          if (/(PASSWORD|TOKEN|SECRET|_KEY|WEBHOOK|POSTGRES|TABLE)/i.test(e.name) && e.value !== undefined)
            fail(where(o), `${c.name}: env ${e.name} has a literal value; use secretKeyRef`);
        }
      }
    }
    if (o.kind === "Deployment") {
      const c = o.spec.template.spec.containers[0];
      if (!c.readinessProbe || !c.livenessProbe) fail(where(o), "readiness and liveness probes required");
      const a = o.spec.template.metadata?.annotations || {};
      if (a["prometheus.io/scrape"] !== "true" || !a["prometheus.io/port"]) fail(where(o), "prometheus.io scrape annotations");
      const labels = o.spec.template.metadata.labels;
      const pdb = byKind("PodDisruptionBudget").find((p) =>
        Object.entries(p.spec.selector.matchLabels || {}).every(([k, v]) => labels[k] === v));
      if (!pdb) fail(where(o), "no PodDisruptionBudget selects it");
    }
  }
  const cron = byKind("CronJob").find((c) => c.metadata.name === "hakone-crawler");
  if (!cron) fail(env, "no hakone-crawler CronJob");
  else {
    const s = cron.spec, j = s.jobTemplate.spec, p = j.template.spec;
    if (s.concurrencyPolicy !== "Forbid") fail(env, "crawler concurrencyPolicy must be Forbid");
    for (const [k, v] of [["startingDeadlineSeconds", s.startingDeadlineSeconds], ["backoffLimit", j.backoffLimit],
      ["activeDeadlineSeconds", j.activeDeadlineSeconds], ["ttlSecondsAfterFinished", j.ttlSecondsAfterFinished]]) {
      if (!(Number.isInteger(v) && v >= 0)) fail(env, `crawler ${k} must be set`);
    }
    // The crawler's SIGTERM path: requests in flight (timeout) + flush + checkpoint.
    const toml = fs.readFileSync(path.join(root, "deploy/k8s/base/crawl.toml"), "utf8");
    const m = toml.match(/^timeout\s*=\s*"(\d+)s"/m);
    const timeout = m ? Number(m[1]) : 30;
    if (!(p.terminationGracePeriodSeconds >= timeout + 10)) fail(env, `crawler terminationGracePeriodSeconds < timeout ${timeout}s + 10s`);
    const dm = toml.match(/^max_duration\s*=\s*"(\d+)m"/m);
    if (dm && Number(dm[1]) * 60 >= j.activeDeadlineSeconds) fail(env, "crawler max_duration must end before activeDeadlineSeconds");
  }
  if (!byKind("CronJob").some((c) => c.spec.jobTemplate.spec.completionMode === "Indexed")) fail(env, "no Indexed (sharded) crawler variant");
  const graph = byKind("CronJob").find((c) => c.metadata.name === "hakone-graph-rebuild");
  if (!graph || !/^\S+ \S+ \* \* \*$/.test(graph.spec.schedule)) fail(env, "graph rebuild must be a daily CronJob");
  const np = byKind("NetworkPolicy");
  if (!np.some((n) => Object.keys(n.spec.podSelector || {}).length === 0 && (n.spec.policyTypes || []).includes("Egress") && !n.spec.egress && !n.spec.ingress))
    fail(env, "no default-deny NetworkPolicy");
  for (const sa of sas.values()) if (sa.automountServiceAccountToken !== false) fail(`${env}/ServiceAccount/${sa.metadata.name}`, "automountServiceAccountToken must be false");
}

async function checkOverlays() {
  const dir = path.join(root, "deploy/k8s/overlays");
  const envs = fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()).sort();
  for (const want of ["dev", "stage", "prod"]) if (!envs.includes(want)) fail("overlays", `missing ${want}`);
  for (const env of envs) {
    let out;
    try {
      out = execFileSync("kubectl", ["kustomize", path.join(dir, env)], { encoding: "utf8" });
    } catch (e) {
      fail(env, `kubectl kustomize failed: ${e.stderr || e.message}`);
      continue;
    }
    const objs = [];
    for (const doc of YAML.parseAllDocuments(out, { uniqueKeys: true })) {
      if (doc.errors.length) { fail(env, `YAML: ${doc.errors[0].message}`); continue; }
      const o = doc.toJS();
      if (!o) continue;
      objs.push(o);
      const Model = await modelFor(o.apiVersion, o.kind);
      const where = `${env}/${o.kind}/${o.metadata?.name}`;
      if (!Model) { fail(where, `no schema for ${o.apiVersion} ${o.kind}`); continue; }
      try {
        new Model(o).validate();
        checked++;
      } catch (e) {
        fail(where, `schema: ${e.message}`);
      }
    }
    checkPolicies(env, objs);
  }
}

function scriptRefs(text) {
  return [...text.matchAll(/(?:^|[\s"'=(])((?:scripts|deploy\/scripts|bench)\/[\w./-]+\.(?:sh|py))/g)].map((m) => m[1]);
}

function checkCi() {
  const gha = path.join(root, ".github/workflows/hakone.yml");  // where GitHub runs it
  const cb = path.join(root, "deploy/ci/cloudbuild.yaml");
  for (const f of [gha, cb]) {
    const text = fs.readFileSync(f, "utf8");
    const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length) { fail(f, `YAML: ${doc.errors[0].message}`); continue; }
    const y = doc.toJS();
    for (const ref of scriptRefs(text)) {
      const p = path.join(root, ref);
      if (!fs.existsSync(p)) fail(f, `references missing ${ref}`);
      else if (!(fs.statSync(p).mode & 0o111)) fail(f, `${ref} is not executable`);
    }
    if (f === gha) {
      if (!y.on || !y.jobs) { fail(f, "needs on: and jobs:"); continue; }
      for (const [name, job] of Object.entries(y.jobs)) {
        if (!job["runs-on"]) fail(f, `job ${name}: runs-on`);
        if (!Array.isArray(job.steps) || !job.steps.length) fail(f, `job ${name}: steps`);
        for (const s of job.steps || []) if (!s.run && !s.uses) fail(f, `job ${name}: a step without run/uses`);
        for (const n of [].concat(job.needs || [])) if (!y.jobs[n]) fail(f, `job ${name}: needs unknown job ${n}`);
      }
      for (const env of ["dev", "stage", "prod"]) {
        if (!Object.values(y.jobs).some((j) => j.environment === env)) fail(f, `no job deploys to environment ${env}`);
      }
      if (!JSON.stringify(y).includes("id-token")) fail(f, "deploy jobs should use OIDC (id-token: write), not keys");
    } else {
      if (!Array.isArray(y.steps) || !y.steps.length) fail(f, "steps");
      for (const s of y.steps || []) if (!s.name) fail(f, `step ${s.id}: name`);
    }
  }
  const cf = fs.readFileSync(path.join(root, "deploy/Containerfile"), "utf8");
  // Stages FROM debian:bookworm*, directly or through an ARG whose default is one (build-image.sh
  // may pass a local bookworm image made from the host's Debian mirror instead).
  const args = Object.fromEntries([...cf.matchAll(/^ARG (\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
  const froms = [...cf.matchAll(/^FROM (\S+) AS /gm)].map((m) => m[1].replace(/^\$\{(\w+)\}$/, (_, v) => args[v] || ""));
  if (froms.filter((x) => /debian:bookworm/.test(x)).length < 2) fail("Containerfile", "multi-stage bookworm build");
  const user = cf.match(/^USER\s+(\S+)/m);
  if (!user || /^(0|root)(:|$)/.test(user[1])) fail("Containerfile", "must switch to a non-root USER");
  if (!/^HEALTHCHECK /m.test(cf)) fail("Containerfile", "HEALTHCHECK");
}

await checkOverlays();
checkCi();
if (failures.length) {
  console.error(`deploy: ${failures.length} problem(s):\n  ` + failures.join("\n  "));
  process.exit(1);
}
console.log(`deploy: ${checked} objects valid against the Kubernetes schemas; policies and CI files OK`);
