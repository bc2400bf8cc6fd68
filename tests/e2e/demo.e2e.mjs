// End-to-end tests of the console against a running `hakone demo` (Debian's Chromium,
// playwright-core).
//
// Starts `hakone demo` on 13 free loopback ports with a temporary data directory, waits until
// its traffic shows everywhere (logs indexed, an alert fired, a crawl run recorded, the graph
// rebuilt with the operation log), then in the browser: logs in to the sample app through the
// gateway (as an SSO proxy would identify the user, and with the app's own session cookie,
// which the gateway resolves in hakone sessions) and finds both in the Operation log page; then
// loads every page, performs its main action, checks what is shown and saves a screenshot
// under --out/demo.
//
//   node demo.e2e.mjs --hakone build/hakone --out build/e2e-artifacts
// Exit code 0 when every check passed; results in --out/demo/results.json.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const HAKONE = path.resolve(args.hakone ?? 'build/hakone');
const OUT = path.join(path.resolve(args.out ?? 'e2e-artifacts'), 'demo');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
fs.mkdirSync(OUT, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hakone-demo-e2e-'));
const results = { checks: [], figures: {} };
let failed = 0;
let demo = null;

function log(...a) {
  console.log(new Date().toISOString().slice(11, 23), ...a);
}
function check(name, ok, detail = '') {
  results.checks.push({ name, ok: !!ok, detail });
  if (!ok) failed++;
  log(ok ? 'PASS' : 'FAIL', name, detail);
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function getJson(url) {
  try {
    const r = await fetch(url);
    return r.ok ? await r.json() : null;
  } catch {
    return null;
  }
}
// Polls fn() (async, truthy when done) every 300 ms for at most ms.
async function until(fn, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await fn()) return true;
    await sleep(300);
  }
  return false;
}

// Starts the demo; resolves with its URLs once it printed them.
function startDemo() {
  return new Promise((resolve, reject) => {
    const logf = fs.createWriteStream(path.join(OUT, 'demo.log'));
    demo = spawn(HAKONE, ['demo', '--data-dir', path.join(tmp, 'data'), '--port-base', 'auto', '--rate', '5', '--verbose'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const urls = {};
    const timer = setTimeout(() => reject(new Error(`the demo did not start within 60 s:\n${out.slice(-2000)}`)), 60000);
    demo.stdout.on('data', (d) => {
      logf.write(d);
      out += d;
      for (const [key, re] of [['app', /through the gateway:\s+(http:\S+?)\/?$/m], ['console', /the console:\s+(http:\S+?)\/ui\/$/m],
        ['store', /Elasticsearch API\):\s+(http:\S+?)\/?$/m], ['admin', /admin API:\s+(http:\/\/[^/\s]+)/m]]) {
        const m = out.match(re);
        if (m) urls[key] = m[1];
      }
      if (out.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve(urls);
      }
    });
    demo.stderr.on('data', (d) => logf.write(d));
    demo.on('exit', (code, sig) => {
      log('demo exited', code ?? sig);
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code ?? sig}):\n${out.slice(-2000)}`));
    });
  });
}

async function main() {
  if (!fs.existsSync(HAKONE)) throw new Error(`no hakone binary at ${HAKONE} (--hakone)`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (scripts/install-deps.sh)`);
  const t0 = Date.now();
  const urls = await startDemo();
  check('demo prints the app, console, store and admin URLs', urls.app && urls.console && urls.store && urls.admin, JSON.stringify(urls));
  results.figures.demo_start_seconds = (Date.now() - t0) / 1000;
  const C = urls.console;
  const G = urls.app;

  // The demo's traffic reaches every component.
  const ready = {
    logs: () => until(async () => (await getJson(`${C}/es/logs-prod/_count`))?.count > 0 && (await getJson(`${C}/es/logs-dev/_count`))?.count > 0, 30000),
    crawl: () => until(async () => (await getJson(`${C}/api/crawl/runs`))?.runs?.some((r) => r.state !== 'running'), 30000),
    alert: () => until(async () => (await getJson(`${C}/api/agent/alerts`))?.history?.length > 0, 45000),
    graph: () => until(async () => (await getJson(`${C}/api/graph/stats`))?.labels?.User > 0, 45000),
  };
  check('app logs of prod and dev indexed in the store', await ready.logs());
  check('a crawl run of the job board recorded', await ready.crawl());
  results.figures.ready_seconds = (Date.now() - t0) / 1000;

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
  try {
    // 1. Log in to the sample app through the gateway. (a) Identified by an SSO proxy header.
    const who = `e2e-${Date.now().toString(36)}`;
    const ssoCtx = await browser.newContext({ extraHTTPHeaders: { 'X-User-Id': who } });
    const sso = await ssoCtx.newPage();
    await sso.goto(`${G}/login`);
    await sso.fill('input[name=user]', who);
    await sso.fill('input[name=password]', 'correct-horse-e2e');
    await Promise.all([sso.waitForLoadState('load'), sso.click('button')]);
    check('sample app: logged in through the gateway', (await sso.textContent('#user').catch(() => '')) === who);
    await sso.goto(`${G}/candidates/2`);
    await ssoCtx.close();
    // (b) The app's own session: the cookie is resolved by the gateway in hakone sessions.
    const who2 = `${who}-cookie`;
    const appCtx = await browser.newContext();
    const app = await appCtx.newPage();
    await app.goto(`${G}/login`);
    await app.fill('input[name=user]', who2);
    await app.fill('input[name=password]', 'correct-horse-e2e');
    await Promise.all([app.waitForLoadState('load'), app.click('button')]);
    const cookies = await appCtx.cookies();
    check('sample app: session cookie set', cookies.some((c) => c.name === 'PLAY_SESSION'));
    await app.goto(`${G}/candidates/3`);
    await appCtx.close();

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    // 2. Overview: no token configured (loopback), every component up.
    await page.goto(`${C}/ui/`);
    await page.waitForSelector('.card[data-component=gateway_admin]', { timeout: 15000 });
    for (const c of ['gateway_admin', 'store', 'graph', 'agent', 'crawl', 'sessions']) {
      const cls = (await page.getAttribute(`.card[data-component=${c}]`, 'class').catch(() => '')) ?? '';
      check(`overview: ${c} up`, cls.split(/\s+/).includes('up'), cls);
    }
    await shot(page, '01-overview');

    // 3. Operation log: the login found by user (deep link), its event redacted; the cookie login.
    let found = false;
    for (let i = 0; i < 20 && !found; i++) {
      await page.goto(`${C}/ui/oplog?user=${who}&since=10m`);
      await page.waitForSelector('#result-count, #results .error', { timeout: 10000 });
      found = (await page.locator('table.events tr', { hasText: '/login' }).count()) > 0;
      if (!found) await page.waitForTimeout(500);
    }
    check('operation log: the login through the gateway, found by user', found);
    if (found) {
      const row = page.locator('table.events tr', { hasText: '/login' }).first();
      const text = await row.textContent();
      check('operation log: POST /login answered 200', text.includes('POST') && text.includes('200'), text.slice(0, 120));
      await row.locator('button', { hasText: 'event' }).click();
      const detail = await page.textContent('tr.detail');
      check('operation log: the password is redacted', detail.includes('[REDACTED]') && !detail.includes('correct-horse-e2e'));
      await page.waitForSelector('#chain-status', { timeout: 15000 }).catch(() => {});
      check('operation log: hash chain verified intact', ((await page.textContent('#chain').catch(() => '')) ?? '').includes('intact'));
      check('operation log: requests-per-minute chart drawn', (await page.locator('#rpm canvas').count()) > 0);
      await shot(page, '02-oplog-login');
      await row.locator('button', { hasText: '/login' }).click();
      await page.waitForSelector('table.who');
      check('operation log: who touched /login lists the user', (await page.textContent('table.who')).includes(who));
      await shot(page, '03-oplog-who');
    }
    let cookieFound = false;
    for (let i = 0; i < 10 && !cookieFound; i++) {
      await page.goto(`${C}/ui/oplog?user=${encodeURIComponent(who2)}&since=10m`);
      await page.waitForSelector('#result-count, #results .error', { timeout: 10000 });
      cookieFound = (await page.locator('table.events tr', { hasText: '/candidates/3' }).count()) > 0;
      if (!cookieFound) await page.waitForTimeout(500);
    }
    check('operation log: the session-cookie user is identified through hakone sessions', cookieFound);
    await shot(page, '04-oplog-session-user');
    // The demo's own traffic: recruiters' candidate updates.
    await page.goto(`${C}/ui/oplog?user=alice&method=PUT&since=1h`);
    await page.waitForSelector('#result-count, #results .error', { timeout: 10000 });
    check('operation log: the traffic generator\'s recruiter updates', (await page.locator('table.events tr', { hasText: 'PUT' }).count()) > 0);

    // 4. Logs: prod has the app's log lines; a query; expand; brush to zoom; dev tab.
    await page.goto(`${C}/ui/logs?env=prod&from=15m`);
    await page.waitForSelector('#histogram h2, .error', { timeout: 15000 });
    const title = (await page.textContent('#histogram h2').catch(() => '')) ?? '';
    check('logs: prod has events', /^[1-9][\d,]* events/.test(title), title);
    await page.fill('#logs-q', 'method:POST');
    await page.press('#logs-q', 'Enter');
    await page.waitForURL(/q=method%3APOST/, { timeout: 5000 }).catch(() => {});
    await page.waitForFunction(() => /^[1-9][\d,]* events/.test(document.querySelector('#histogram h2')?.textContent ?? ''), null, { timeout: 10000 }).catch(() => {});
    const firstMsg = (await page.locator('.logs .row .msg').first().textContent().catch(() => '')) ?? '';
    check('logs: query_string method:POST shows POST lines', firstMsg.startsWith('POST'), firstMsg);
    await page.locator('.logs .row').first().click();
    const json = (await page.locator('.logs .json').first().textContent().catch(() => '')) ?? '';
    check('logs: a line expands to its JSON with env prod', json.includes('prod') && json.includes('sample-app'), json.slice(0, 120));
    const over = await page.locator('#histogram .u-over').boundingBox();
    if (over) {
      await page.mouse.move(over.x + over.width * 0.5, over.y + over.height / 2);
      await page.mouse.down();
      await page.mouse.move(over.x + over.width * 0.98, over.y + over.height / 2, { steps: 5 });
      await page.mouse.up();
      await page.waitForURL(/to=/, { timeout: 5000 }).catch(() => {});
    }
    check('logs: brushing the histogram zooms (from/to in the URL)', page.url().includes('to='), page.url());
    await shot(page, '05-logs-prod');
    await page.goto(`${C}/ui/logs?env=dev&from=15m`);
    await page.waitForSelector('#histogram h2, .error', { timeout: 15000 });
    const devTitle = (await page.textContent('#histogram h2').catch(() => '')) ?? '';
    check('logs: dev has its own events', /^[1-9][\d,]* events/.test(devTitle), devTitle);
    await shot(page, '06-logs-dev');

    // 5. Alerts: the rules per env, a firing one, the history; filter by env.
    check('an alert fired (the agent\'s /alerts, its slack sink posting to the demo\'s board)', await ready.alert());
    await page.goto(`${C}/ui/alerts`);
    await page.waitForSelector('#rules table', { timeout: 10000 }).catch(() => {});
    const rules = await page.locator('#rules tbody tr').count();
    check('alerts: 2 rules in each of 3 environments', rules === 6, `${rules} rows`);
    check('alerts: a rule is firing', (await page.locator('#rules tr.firing').count()) > 0);
    check('alerts: firing history listed', (await page.locator('#history li').count()) > 0);
    await page.waitForSelector('#alert-metrics li', { timeout: 5000 }).catch(() => {});
    check('alerts: the agent\'s metrics of the alert sink listed', (await page.locator('#alert-metrics li').count()) > 0);
    await page.click('button[role=tab]:has-text("prod")');
    await page.waitForURL(/env=prod/, { timeout: 5000 }).catch(() => {});
    const prodRows = await page.locator('#rules tbody tr').count();
    check('alerts: the prod tab shows prod\'s rules only', prodRows === 2 && page.url().includes('env=prod'), `${prodRows} rows`);
    await shot(page, '07-alerts');

    // 6. Crawler: the runs; open one: its host and the postings found.
    await page.goto(`${C}/ui/crawler`);
    await page.waitForSelector('#runs table', { timeout: 10000 }).catch(() => {});
    const runBtn = page.locator('#runs button.link').last();
    check('crawler: runs listed', (await page.locator('#runs button.link').count()) > 0);
    await runBtn.click();
    await page.waitForURL(/run=/, { timeout: 5000 }).catch(() => {});
    await page.waitForSelector('#run table', { timeout: 10000 }).catch(() => {});
    const hostRow = (await page.textContent('#run tbody').catch(() => '')) ?? '';
    check('crawler: the run shows the job board host with pages', /127\.0\.0\.1:\d+\s*\d+/.test(hostRow), hostRow.slice(0, 100));
    const postings = await page.locator('#run ul li').count();
    check('crawler: postings found in the run', postings >= 10, `${postings} postings`);
    check('crawler: Japanese postings', ((await page.textContent('#run ul').catch(() => '')) ?? '').includes('エンジニア'));
    await shot(page, '08-crawler-run');

    // 7. Graph: search, expand a node, recommendations; the operation log's users in the stats.
    await page.goto(`${C}/ui/graph?q=A`);
    await page.waitForSelector('#matches button', { timeout: 15000 }).catch(() => {});
    check('graph: search finds nodes', (await page.locator('#matches button').count()) > 0);
    if ((await page.locator('#matches button').count()) > 0) {
      await page.locator('#matches button').first().click();
      await page.waitForFunction(() => /^([2-9]|\d\d+)\d* nodes/.test(document.querySelector('#graph-counts')?.textContent ?? ''), null, { timeout: 10000 }).catch(() => {});
      const counts = (await page.textContent('#graph-counts').catch(() => '')) ?? '';
      check('graph: expanding a node draws its neighbourhood', /^([2-9]|\d\d+)\d* nodes/.test(counts), counts);
      check('graph: focus in the URL', page.url().includes('focus='));
    }
    await shot(page, '09-graph');
    await page.goto(`${C}/ui/graph?q=${encodeURIComponent('田')}`);
    await page.waitForSelector('#matches button', { timeout: 10000 }).catch(() => {});
    check('graph: Japanese search', ((await page.textContent('#matches').catch(() => '')) ?? '').includes('田'));
    const person = page.locator('#matches button', { hasText: 'Person' }).first();
    if ((await person.count()) > 0) {
      await person.click();
      await page.waitForSelector('.recs li, #selected .muted', { timeout: 15000 }).catch(() => {});
      check('graph: recommendations for a person', (await page.locator('.recs li').count()) > 0);
      await shot(page, '10-graph-recommend');
    }
    check('graph: rebuilt with the operation log (User nodes from the gateway\'s events)', await ready.graph());

    // 8. Sessions: the sample app's sessions in hakone sessions.
    await page.goto(`${C}/ui/sessions`);
    await page.waitForSelector('#tiers, [data-state]', { timeout: 10000 });
    const main_ = (await page.textContent('main')) ?? '';
    check('sessions: tiers shown', main_.includes('Cache tier') && main_.includes('Durable tier'));
    const ratio = ((await page.textContent('#hit-ratio').catch(() => '')) ?? '').trim();
    check('sessions: a hit ratio from the gateway\'s and the app\'s reads', /^[1-9]\d*(\.\d)? %$/.test(ratio), ratio);
    const keys = (await page.textContent('#keys').catch(() => '')) ?? '';
    check('sessions: the app\'s sess: keys, without session ids', keys.includes('sess:') && !/sess:[0-9a-f]{16}/.test(keys), keys.slice(0, 120));
    await shot(page, '11-sessions');

    check('no uncaught errors in the pages', pageErrors.length === 0, pageErrors.join(' | ').slice(0, 300));
  } finally {
    await browser.close();
  }
}

const t0 = Date.now();
main()
  .catch((e) => {
    failed++;
    log('FAIL', e.stack ?? String(e));
  })
  .finally(async () => {
    results.seconds = (Date.now() - t0) / 1000;
    if (demo && demo.exitCode === null) {
      demo.removeAllListeners('exit');
      const stopped = new Promise((r) => demo.on('exit', (code) => r(code)));
      const t1 = Date.now();
      demo.kill('SIGINT');
      const code = await Promise.race([stopped, sleep(20000).then(() => 'timeout')]);
      check('the demo stops cleanly on Ctrl-C', code === 0, `exit ${code} after ${((Date.now() - t1) / 1000).toFixed(1)} s`);
      if (code === 'timeout') demo.kill('SIGKILL');
    }
    fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
    fs.rmSync(tmp, { recursive: true, force: true });
    log(`${results.checks.length - failed} passed, ${failed} failed in ${results.seconds.toFixed(1)} s; screenshots in ${OUT}`);
    process.exit(failed ? 1 : 0);
  });
