#!/usr/bin/env python3
"""The config files the batch workloads mount are accepted by the real binary.

For every overlay (dev, stage, prod): renders it with `kubectl kustomize`, writes the data of the
rendered ConfigMap hakone-config to a temp dir, and for every CronJob runs its container's
command with `--check` (config validation only: `hakone graph build --check` loads [graph] and
parses the mapping; `hakone crawl --check` loads [crawl] with its HAKONE_CRAWL_* variables) the
way the pod would: /etc/hakone/ and /run/secrets/hakone/ paths point at the temp dir, values from
Secrets are stand-ins of the documented shape (a redis:// frontier, a postgresql:// table URL).
Checks the sharded crawl uses the shared Redis frontier, and that a broken mapping is rejected.

usage: configs.py REPO_ROOT HAKONE_BINARY
"""
import os, re, subprocess, sys, tempfile
import yaml

root, hakone = sys.argv[1], sys.argv[2]
# Stand-ins for Secret values (the shape docs/deploy.md asks for); nothing is contacted by --check.
SECRETS = {("hakone-crawl-secrets", "frontier-url"): "redis://:pw@127.0.0.1:6379/0",
           ("hakone-crawl-secrets", "table-url"): "postgresql://crawler@127.0.0.1:5432/hakone",
           ("hakone-graph-secrets", "postgres-password"): "pw"}
failures = []
tmp = tempfile.mkdtemp(prefix="hakone-configs-")

def run(name, args, env):
    p = subprocess.run([hakone] + args, env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()

for overlay in ("dev", "stage", "prod"):
    docs = [d for d in yaml.safe_load_all(subprocess.check_output(
        ["kubectl", "kustomize", os.path.join(root, "deploy/k8s/overlays", overlay)], text=True)) if d]
    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("hakone-config")]
    if len(cms) != 1:
        failures.append((overlay, "configmap", "expected one hakone-config ConfigMap, found %d" % len(cms))); continue
    d = os.path.join(tmp, overlay)
    os.makedirs(os.path.join(d, "etc"), exist_ok=True)
    os.makedirs(os.path.join(d, "secrets"), exist_ok=True)
    def local(text):
        return text.replace("/etc/hakone/", d + "/etc/").replace("/run/secrets/hakone/", d + "/secrets/")
    for fname, text in cms[0].get("data", {}).items():
        open(os.path.join(d, "etc", fname), "w").write(local(text))
        for secret in re.findall(r'/run/secrets/hakone/([\w.-]+)', text):
            open(os.path.join(d, "secrets", secret), "w").write("stand-in-" + secret + "\n")
    env_maps = {c["metadata"]["name"]: c.get("data", {}) for c in docs if c["kind"] == "ConfigMap"}
    jobs = [j for j in docs if j["kind"] == "CronJob"]
    names = {j["metadata"]["name"] for j in jobs}
    for want in ("hakone-crawler", "hakone-crawler-sharded", "hakone-graph-rebuild"):
        if want not in names: failures.append((overlay, want, "CronJob missing"))
    for j in jobs:
        name = j["metadata"]["name"]
        c = j["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if j["spec"]["jobTemplate"]["spec"].get("completionMode") == "Indexed":
            env["JOB_COMPLETION_INDEX"] = "1"  # Kubernetes sets it in the pods of an Indexed Job
        for ef in c.get("envFrom", []):
            env.update(env_maps.get(ef.get("configMapRef", {}).get("name"), {}))
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                key = (ref["name"], ref["key"])
                if key not in SECRETS:
                    failures.append((overlay, name, "no stand-in for Secret %s key %s" % key)); continue
                env[e["name"]] = SECRETS[key]
        if name == "hakone-crawler-sharded" and "HAKONE_CRAWL_FRONTIER" not in env and \
                not any(a.startswith("--frontier") for a in c["args"]):
            failures.append((overlay, name, "the sharded crawl does not use the shared Redis frontier"))
        args = [local(a) for a in c["args"] if a not in ("--once", "--json", "--no-progress")] + ["--check"]
        rc, out = run(name, args, env)
        ok = rc == 0
        if name == "hakone-crawler-sharded" and ok and "frontier redis" not in out:
            ok, out = False, "expected the Redis frontier: " + out
        print("configs: %-6s %-22s %s %s" % (overlay, name, "ok  " if ok else "FAIL", out.splitlines()[-1] if out else rc))
        if not ok: failures.append((overlay, name, out))

# Negative: --check really checks (an unknown mapping key, an unknown [graph] key, a bad crawl value).
d = os.path.join(tmp, "dev", "etc")
if os.path.exists(os.path.join(d, "graph.toml")):
    m = open(os.path.join(d, "graph-mapping.toml")).read()
    open(os.path.join(d, "graph-mapping.toml"), "w").write(m.replace('id = "job_id"', 'idd = "job_id"'))
    rc, out = run("neg", ["graph", "build", "--config", os.path.join(d, "graph.toml"), "--check"], dict(os.environ))
    if rc == 0 or "idd" not in out: failures.append(("negative", "graph mapping", "accepted: %s" % out))
    open(os.path.join(d, "graph-mapping.toml"), "w").write(m)
    g = open(os.path.join(d, "graph.toml")).read()
    open(os.path.join(d, "graph.toml"), "w").write(g + "mappingg = 1\n")
    rc, out = run("neg", ["graph", "build", "--config", os.path.join(d, "graph.toml"), "--check"], dict(os.environ))
    if rc == 0 or "mappingg" not in out: failures.append(("negative", "graph config", "accepted: %s" % out))
    rc, out = run("neg", ["crawl", "--config", os.path.join(d, "crawl.toml"), "--check"],
                  dict(os.environ, HAKONE_CRAWL_FRONTIER="http://not-redis"))
    if rc == 0 or "frontier" not in out: failures.append(("negative", "crawl frontier", "accepted: %s" % out))
    print("configs: negative checks %s" % ("FAIL" if any(f[0] == "negative" for f in failures) else "ok"))

subprocess.call(["rm", "-rf", tmp])
if failures:
    for f in failures: print("configs: FAIL %s %s: %s" % f)
    sys.exit("configs: %d failure(s)" % len(failures))
print("configs: every CronJob's mounted config is accepted by the real binary")
