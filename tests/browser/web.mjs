// web.mjs: cohort-web in a real browser (Debian's Chromium, headless, driven
// by puppeteer-core), as a TAP producer for prove. It is started by
// tests/integration/81-web-browser.t, which starts the real cohortd and
// cohort-web, pushes the example programmes, and hands over a plan in
// COHORT_WEB_PLAN (a JSON file):
//
//   { "url": "https://127.0.0.1:PORT", "shots": DIR, "chromium": PATH,
//     "users": [ { "name", "password", "label",
//                  "pages":  [ { "path", "shot", "figures": [ [selector, text], ... ],
//                              "absent": [ text, ... ], "charts": N } ],
//                  "denied": [ { "path", "absent": [ text, ... ] } ] } ],
//     "live":  { "user", "path", "push": [argv...], "selector", "before", "after" },
//     "wrong_password": { "name", "password" } }
//
// For each user it logs in through the login form, opens every page of its
// scope (HTTP 200, the figures the plan expects where the plan says, at
// least "charts" charts each with its text alternative and table, no
// text that must be absent, no accessibility violation that axe-core rates
// serious or critical, a screenshot) and every page outside it (HTTP 404,
// none of the texts). Then it watches one page while the plan's push command
// adds events, and waits for the figure to change on the page without a
// reload. Every check is a TAP line; the process exits 1 on any failure.
import { readFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const plan = JSON.parse(readFileSync(process.env.COHORT_WEB_PLAN, 'utf8'));
let n = 0, failed = 0;
function ok(cond, name, diag) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && diag) for (const l of String(diag).split('\n')) console.log(`# ${l}`);
  return cond;
}
const note = (s) => console.log(`# ${s}`);

mkdirSync(plan.shots, { recursive: true });
const browser = await puppeteer.launch({
  executablePath: plan.chromium || '/usr/bin/chromium',
  headless: true,
  acceptInsecureCerts: true, // the test's self-signed certificate
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});

// Logs in through the form as a person would; returns the page (logged in) or null.
async function login(ctx, name, password) {
  const page = await ctx.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const r = await page.goto(`${plan.url}/login`, { waitUntil: 'load' });
  if (!r || r.status() !== 200) return { page, status: r ? r.status() : 0 };
  await page.type('input[name=user]', name);
  await page.type('input[name=password]', password);
  const [nav] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('form [type=submit]'),
  ]);
  return { page, status: nav ? nav.status() : 0 };
}

// axe-core's violations of impact serious or critical on the current page.
async function axe(page) {
  await page.evaluate(AXE);
  const res = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } }));
  return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

// The visible text of an element, whitespace collapsed.
async function textOf(page, selector) {
  return page.$eval(selector, (e) => e.innerText.replace(/\s+/g, ' ').trim()).catch(() => null);
}

async function checkPage(page, who, p) {
  const r = await page.goto(`${plan.url}${p.path}`, { waitUntil: 'load' });
  if (!ok(r && r.status() === 200, `${who}: ${p.path} is served`, `status ${r && r.status()}`)) return;
  const body = await page.evaluate(() => document.body.innerText);
  for (const [sel, want] of p.figures || []) {
    const got = await textOf(page, sel);
    ok(got !== null && got.includes(want), `${who}: ${p.path}: ${sel} shows ${JSON.stringify(want)}`,
       `got ${JSON.stringify(got)}`);
  }
  for (const t of p.absent || [])
    ok(!body.includes(t), `${who}: ${p.path} does not show ${JSON.stringify(t)}`);
  const enums = body.match(/\b[A-Z]{2,}(?:_[A-Z]+)+\b/g);
  ok(!enums, `${who}: ${p.path} shows labels, not enum names`, enums && enums.slice(0, 5).join(' '));
  // Charts: each an SVG with role img named by its title and description
  // (the text alternative, which gives the figures) and its table after it.
  const charts = await page.$$eval('svg[role=img]', (svgs) => svgs.map((s) => {
    const ids = (s.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
    const named = ids.length === 2 && ids.every((id) => (document.getElementById(id)?.textContent || '').trim());
    const fig = s.closest('figure');
    const next = fig ? fig.nextElementSibling : null;
    return { id: ids[0] || '', title: s.querySelector('title')?.textContent || '',
             desc: s.querySelector('desc')?.textContent || '', named,
             table: !!next && (next.tagName === 'TABLE' || !!next.querySelector(':scope > table')) };
  }));
  if (p.charts !== undefined) {
    ok(charts.length >= p.charts, `${who}: ${p.path}: ${charts.length} charts (at least ${p.charts})`);
    const bad = charts.filter((c) => !c.named || !c.title || !/\d/.test(c.desc) || !c.table);
    ok(bad.length === 0, `${who}: ${p.path}: every chart has a title, a description giving its figures, and its table after it`,
       JSON.stringify(bad.slice(0, 3)));
  }
  const v = await axe(page);
  ok(v.length === 0, `${who}: ${p.path}: no serious or critical accessibility violation (axe-core)`,
     v.map((x) => `${x.id}: ${x.help} (${x.nodes.length}) ${x.nodes[0] && x.nodes[0].target}`).join('\n'));
  if (p.shot) {
    await page.screenshot({ path: path.join(plan.shots, p.shot), fullPage: true });
    note(`screenshot ${path.join(plan.shots, p.shot)}`);
  }
}

try {
  if (plan.wrong_password) {
    const ctx = await browser.createBrowserContext();
    const { page } = await login(ctx, plan.wrong_password.name, plan.wrong_password.password);
    ok(new URL(page.url()).pathname === '/login', 'a wrong password stays on the login page', page.url());
    const err = await page.evaluate(() => document.body.innerText);
    ok(/password/i.test(err), 'and says the name or password is wrong', err.slice(0, 200));
    await ctx.close();
  }
  for (const u of plan.users) {
    const who = u.label || u.name;
    const ctx = await browser.createBrowserContext();
    const { page, status } = await login(ctx, u.name, u.password);
    ok(status === 200 && new URL(page.url()).pathname === '/', `${who}: logs in and lands on the start page`,
       `status ${status} at ${page.url()}`);
    for (const p of u.pages || []) await checkPage(page, who, p);
    for (const d of u.denied || []) {
      const r = await page.goto(`${plan.url}${d.path}`, { waitUntil: 'load' });
      ok(r && r.status() === 404, `${who}: ${d.path} is not served (404)`, `status ${r && r.status()}`);
      const body = await page.evaluate(() => document.body.innerText);
      for (const t of d.absent || [])
        ok(!body.includes(t), `${who}: ${d.path} shows no ${JSON.stringify(t)}`);
    }
    await ctx.close();
  }
  if (plan.live) {
    const L = plan.live;
    const u = plan.users.find((x) => x.name === L.user);
    const ctx = await browser.createBrowserContext();
    const { page } = await login(ctx, u.name, u.password);
    await page.goto(`${plan.url}${L.path}`, { waitUntil: 'load' });
    await page.waitForFunction(() => /live/i.test(document.getElementById('live-state')?.innerText || ''),
                               { timeout: 15000 }).catch(() => {});
    ok(/live/i.test((await textOf(page, '#live-state')) || ''), 'live: the page says its connection is live',
       await textOf(page, '#live-state'));
    const before = await textOf(page, L.selector);
    ok(before !== null && before.includes(L.before), `live: before the push, ${L.selector} shows ${L.before}`,
       `got ${JSON.stringify(before)}`);
    await page.evaluate(() => { window.__cohortNoReload = performance.timeOrigin; });
    const push = spawnSync(L.push[0], L.push.slice(1), { encoding: 'utf8', timeout: 60000 });
    ok(push.status === 0, 'live: the push command ran', `${push.stdout}\n${push.stderr}`);
    const changed = await page.waitForFunction(
      (sel, want) => (document.querySelector(sel)?.innerText || '').includes(want),
      { timeout: 20000 }, L.selector, L.after).then(() => true, () => false);
    ok(changed, `live: ${L.selector} changes to ${L.after} without a reload`,
       `got ${JSON.stringify(await textOf(page, L.selector))}`);
    const same = await page.evaluate(() => window.__cohortNoReload === performance.timeOrigin);
    ok(same, 'live: the page was updated in place, not reloaded');
    await page.screenshot({ path: path.join(plan.shots, 'live-update.png'), fullPage: false });
    await ctx.close();
  }
} catch (e) {
  ok(false, 'the browser run finished', e.stack || String(e));
} finally {
  await browser.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
