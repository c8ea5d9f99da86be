// shots.mjs: screenshots of cohort-web for docs/screenshots (run by
// tests/tools/docs-screenshots against the demo; not a test). Logs in
// through the form as a person would, then saves each page:
//
//   node shots.mjs URL USER PASSWORD OUTDIR NAME=PATH[@ID][#HEIGHT] ...
//
// Each page is 1280 px wide; HEIGHT (default: the whole page) clips it;
// ID saves the element with that id only (a section of the page).
import { mkdirSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const [url, user, password, out, ...pages] = process.argv.slice(2);
if (!pages.length) {
  console.error('usage: node shots.mjs URL USER PASSWORD OUTDIR NAME=PATH[@ID][#HEIGHT] ...');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptInsecureCerts: true, // the demo's self-signed certificate
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
let rc = 0;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(`${url}/login`, { waitUntil: 'load' });
  await page.type('input[name=user]', user);
  await page.type('input[name=password]', password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form [type=submit]')]);
  for (const p of pages) {
    const [, name, path, sel, height] = p.match(/^([^=]+)=([^#@]+)(?:@([^#]+))?(?:#(\d+))?$/) || [];
    if (!name) throw new Error(`bad page argument: ${p}`);
    const r = await page.goto(`${url}${path}`, { waitUntil: 'load' });
    if (!r || r.status() !== 200) {
      console.error(`${path}: HTTP ${r ? r.status() : 'no answer'}`);
      rc = 1;
      continue;
    }
    await page.waitForFunction(() => document.querySelector('#live-state')?.textContent !== 'not connected',
      { timeout: 5000 }).catch(() => {});
    const file = `${out}/${name}.png`;
    if (sel) {
      const el = await page.$(`[id="${sel}"]`);
      if (!el) throw new Error(`${path}: no ${sel}`);
      await el.screenshot({ path: file });
    } else if (height) await page.screenshot({ path: file, clip: { x: 0, y: 0, width: 1280, height: +height } });
    else await page.screenshot({ path: file, fullPage: true });
    console.log(file);
  }
} finally {
  await browser.close();
}
process.exit(rc);
