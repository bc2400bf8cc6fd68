#!/usr/bin/env python3
"""Every probe of every Deployment in deploy/k8s/base answers on the real binary.

Renders the base with `kubectl kustomize`, then for each Deployment starts `hakone <args>` with
the base's hakone.toml (listen ports remapped to free loopback ports, token files written to a
temp dir, data under a temp dir) and checks each readiness/liveness/startup probe the way the
kubelet does (httpGet without credentials): httpGet must answer 200-399, tcpSocket must accept.
A probe path that nothing serves (a /readyz the binary does not have, an authenticated path)
fails here, not in the cluster. hakone-serve and hakone-sessions must probe httpGet /healthz
(liveness) and /readyz (readiness). Then the sessions /readyz is checked to turn 503, with the
reason, while its durable tier cannot be written (another connection holds SQLite's write lock)
and while its configured cache tier (a real redis-server) is down, and 200 again after each.

usage: probes.py REPO_ROOT HAKONE_BINARY
"""
import os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request, urllib.error
import yaml

root, hakone = sys.argv[1], sys.argv[2]
base = os.path.join(root, "deploy/k8s/base")
docs = [d for d in yaml.safe_load_all(subprocess.check_output(["kubectl", "kustomize", base], text=True)) if d]
deployments = [d for d in docs if d.get("kind") == "Deployment"]
if not deployments:
    sys.exit("probes: no Deployment in the rendered base")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

tmp = tempfile.mkdtemp(prefix="hakone-probes-")
ports = {}  # manifest port -> local port
def remap(m):
    p = int(m.group(1))
    ports.setdefault(p, free_port())
    return '"127.0.0.1:%d"' % ports[p]
def token_file(m):
    path = os.path.join(tmp, "secret-" + os.path.basename(m.group(2)))
    with open(path, "w") as f: f.write("t0k3n-for-the-probe-test-" + os.path.basename(m.group(2)) + "\n")
    return '%s = "%s"' % (m.group(1), path)
def local_config(mounted):
    """/etc/hakone/X.toml (the ConfigMap) -> a local copy of deploy/k8s/base/X.toml."""
    name = os.path.basename(mounted)
    conf = open(os.path.join(base, name)).read()
    conf = re.sub(r'"0\.0\.0\.0:(\d+)"', remap, conf)
    conf = re.sub(r'^data_dir = .*$', 'data_dir = "%s/data-%s"' % (tmp, name), conf, flags=re.M)
    conf = re.sub(r'(token_file|requirepass_file|password_file) = "([^"]+)"', token_file, conf)
    # Service names resolve only in the cluster: the upstream does not have to answer for the
    # probes, only to resolve.
    conf = re.sub(r'"http://hakone-app:(\d+)"', lambda m: '"http://127.0.0.1:%d"' % free_port(), conf)
    path = os.path.join(tmp, name)
    open(path, "w").write(conf)
    return path

def check(kind, probe, port_of):
    if "httpGet" in probe:
        g = probe["httpGet"]
        port = port_of(g["port"])
        url = "http://127.0.0.1:%d%s" % (port, g.get("path", "/"))
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return 200 <= r.status < 400, "%s %d" % (url, r.status)
        except urllib.error.HTTPError as e:
            return False, "%s HTTP %d" % (url, e.code)
        except Exception as e:
            return False, "%s %s" % (url, e)
    if "tcpSocket" in probe:
        port = port_of(probe["tcpSocket"]["port"])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return True, "tcp %d" % port
        except OSError as e:
            return False, "tcp %d %s" % (port, e)
    return False, "unsupported probe %s" % list(probe)

failures = []
# The store's probes are HTTP (issue 7): liveness /healthz, readiness /readyz, on the ES port. The
# base's serve.toml configures API tokens, so answering below also proves they need no auth.
want = {"hakone-serve": {"livenessProbe": "/healthz", "readinessProbe": "/readyz"},
        "hakone-sessions": {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}}
for d in deployments:
    for kind, path in want.get(d["metadata"]["name"], {}).items():
        c = d["spec"]["template"]["spec"]["containers"][0]
        got = c.get(kind, {}).get("httpGet", {}).get("path")
        if got != path:
            failures.append((d["metadata"]["name"], kind, "expected httpGet %s, found %s" % (path, c.get(kind))))
            print("probes: %-16s %-15s FAIL expected httpGet %s" % (d["metadata"]["name"], kind, path))
missing = set(want) - {d["metadata"]["name"] for d in deployments}
if missing:
    sys.exit("probes: no Deployment named %s in the rendered base" % ", ".join(sorted(missing)))
for d in deployments:
    name = d["metadata"]["name"]
    for c in d["spec"]["template"]["spec"]["containers"]:
        named = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
        def port_of(p):
            mp = named[p] if isinstance(p, str) else p
            if mp not in ports:
                raise SystemExit("probes: %s probes port %s, which hakone.toml does not listen on" % (name, mp))
            return ports[mp]
        args = [local_config(a) if a.startswith("/etc/hakone/") else a for a in c["args"]]
        log = open(os.path.join(tmp, name + ".log"), "w")
        proc = subprocess.Popen([hakone] + args, stdout=log, stderr=subprocess.STDOUT)
        try:
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if kind not in c: continue
                ok, what = False, ""
                deadline = time.time() + 15
                while time.time() < deadline and not ok:
                    if proc.poll() is not None:
                        what = "exited with %d" % proc.returncode; break
                    ok, what = check(kind, c[kind], port_of)
                    if not ok: time.sleep(0.2)
                print("probes: %-16s %-15s %s %s" % (name, kind, "ok  " if ok else "FAIL", what))
                if not ok: failures.append((name, kind, what))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try: proc.wait(timeout=20)
                except subprocess.TimeoutExpired: proc.kill(); proc.wait()
            log.close()
        if any(f[0] == name for f in failures):
            print(open(os.path.join(tmp, name + ".log")).read()[-2000:])

def get(port, path, timeout=10):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception as e:
        return 0, str(e)

def wait_for(port, path, want_status, want_text="", seconds=20):
    deadline, got = time.time() + seconds, (0, "")
    while time.time() < deadline:
        got = get(port, path)
        if got[0] == want_status and want_text in got[1]: return True, got
        time.sleep(0.2)
    return False, got

def sessions_readyz():
    """The sessions /readyz against a durable tier that cannot be written and a cache tier that is down."""
    import sqlite3, shutil
    redis_server = shutil.which("redis-server")
    if not redis_server: return [("sessions-readyz", "setup", "redis-server missing: run scripts/install-deps.sh")]
    fails = []
    d = tempfile.mkdtemp(prefix="hakone-sessions-readyz-", dir=tmp)
    rport, aport, redis_port = free_port(), free_port(), free_port()
    conf = os.path.join(d, "sessions.toml")
    with open(conf, "w") as f:
        f.write('data_dir = "%s"\n[sessions]\nlisten = "127.0.0.1:%d"\nadmin = "127.0.0.1:%d"\n'
                '[sessions.cache]\ntype = "redis"\nurl = "redis://127.0.0.1:%d"\n' % (d, rport, aport, redis_port))
    log = open(os.path.join(d, "sessions.log"), "w")
    proc = subprocess.Popen([hakone, "sessions", "--config", conf], stdout=log, stderr=subprocess.STDOUT)
    redis = None
    def expect(what, ok, got):
        print("probes: %-16s %-15s %s %s" % ("sessions-readyz", what, "ok  " if ok else "FAIL", got))
        if not ok: fails.append(("sessions-readyz", what, str(got)))
    try:
        ok, got = wait_for(aport, "/healthz", 200)
        expect("healthz", ok, got)
        ok, got = wait_for(aport, "/readyz", 503, "cache tier")
        expect("cache-down", ok, got)
        redis = subprocess.Popen([redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL)
        ok, got = wait_for(aport, "/readyz", 200)
        expect("cache-back", ok, got)
        # Another connection holds the write lock: the sessions' probe write times out (busy).
        db = sqlite3.connect(os.path.join(d, "sessions.db"), timeout=1, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        ok, got = wait_for(aport, "/readyz", 503, "durable tier", seconds=30)
        expect("durable-locked", ok, got)
        db.execute("ROLLBACK"); db.close()
        ok, got = wait_for(aport, "/readyz", 200, seconds=30)
        expect("durable-back", ok, got)
        ok, got = wait_for(aport, "/metrics", 200, "hakone_sessions_durable_up")
        expect("metrics", ok, (got[0], got[1][:80]))
    finally:
        for p in (proc, redis):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try: p.wait(timeout=20)
                except subprocess.TimeoutExpired: p.kill(); p.wait()
        log.close()
    if fails: print(open(os.path.join(d, "sessions.log")).read()[-2000:])
    return fails

failures += sessions_readyz()
subprocess.call(["rm", "-rf", tmp])
if failures:
    sys.exit("probes: %d probe(s) fail on the real binary" % len(failures))
print("probes: every probe of %d Deployment(s) answers" % len(deployments))
