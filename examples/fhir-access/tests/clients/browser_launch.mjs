// A SMART app in a real browser: SMART's JavaScript client `fhirclient` (pinned) in the small
// app of smart_app/, served here on loopback, driven in headless Debian chromium by
// playwright-core through the server's real login and consent pages.
//
// Run: node browser_launch.mjs FHIR_BASE USER PASSWORD OTHER_PATIENT_ID SCREENSHOT
// Prints one JSON line: the name the app shows, the patient in context, what reading the
// other patient gave, and the consent page's scopes as shown.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [base, user, password, other, screenshot] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const files = {
  '/launch.html': ['text/html', fs.readFileSync(path.join(here, 'smart_app/launch.html'), 'utf8')],
  '/index.html': ['text/html', fs.readFileSync(path.join(here, 'smart_app/index.html'), 'utf8').replace('__OTHER_PATIENT__', other)],
  '/fhir-client.js': ['text/javascript', fs.readFileSync(path.join(here, 'node_modules/fhirclient/build/fhir-client.js'), 'utf8')],
};
const app = http.createServer((req, res) => {
  const file = files[new URL(req.url, 'http://x').pathname];
  if (!file) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': `${file[0]}; charset=utf-8` });
  res.end(file[1]);
});
await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${app.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 420, height: 760 } });
  await page.goto(`${origin}/launch.html?iss=${encodeURIComponent(base)}`);
  // Our login page.
  await page.waitForSelector('form#login', { timeout: 20000 });
  await page.fill('#username', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form#login button[type=submit]')]);
  // Our consent page: every scope as offered, then Allow.
  await page.waitForSelector('form#consent', { timeout: 20000 });
  const offered = await page.$$eval('form#consent input[name=scope]', (boxes) => boxes.map((b) => b.value));
  await Promise.all([page.waitForNavigation(), page.click('form#consent button[value=approve]')]);
  // Back in the app.
  await page.waitForFunction(() => document.getElementById('other')?.textContent || document.getElementById('error')?.textContent, null, { timeout: 20000 });
  await page.screenshot({ path: screenshot, fullPage: true });
  const seen = await page.evaluate(() => ({
    name: document.getElementById('name').textContent,
    patient: document.body.dataset.patient || null,
    other: document.getElementById('other').textContent,
    error: document.getElementById('error').textContent,
    url: location.origin + location.pathname,
  }));
  console.log(JSON.stringify({ ...seen, app: origin, offered }));
} finally {
  await browser.close();
  app.close();
}
