// The web UI waits out a shed answer instead of showing an error, in Chromium against a real
// `gantry up`. What the server sends when it sheds (503 GANTRY_E_OVERLOADED, 429
// GANTRY_E_RATE_LIMITED, each with Retry-After) is pinned by test/server/overload.test.ts; here
// the browser is given that answer for one request (Playwright's route), because making a real
// server shed exactly one chosen request of a page is a race, and the behaviour under test is the
// page's. Every other request goes to the real server.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Route } from 'playwright-core';
import { GantryUp, launchChromium, skipReason } from './ui-harness.js';

const shedBody = (code: string, retryAfter: number) =>
  JSON.stringify({ error: { code, message: `the server is at its bound of 32 API reads at once; try again in ${retryAfter} s`, retryAfter } });

describe('the web UI honours Retry-After', { skip: skipReason(), timeout: 90_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    up = new GantryUp({ '.gantry.yml': 'build:\n  script: [echo hi]\n' });
    await up.start();
    await up.api('POST', '/projects', { name: 'patient', gitUrl: up.sb.repo });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((token) => sessionStorage.setItem('gantry.token', token), up.token);
  });

  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  it('a read shed with 503 and Retry-After: 2 shows "the server is busy", is sent again after 2 s, and the page shows its data without an error', async () => {
    const page = await context.newPage();
    const sent: number[] = [];
    await page.route(/\/api\/v1\/projects\?/, async (route: Route) => {
      sent.push(Date.now());
      if (sent.length === 1) return route.fulfill({ status: 503, headers: { 'retry-after': '2', 'content-type': 'application/json' }, body: shedBody('GANTRY_E_OVERLOADED', 2) });
      return route.continue();
    });
    await page.goto(up.url);
    await page.getByRole('status').filter({ hasText: 'The server is busy' }).waitFor();
    await page.getByRole('link', { name: 'patient' }).waitFor();
    assert.equal(sent.length, 2, 'sent once more, not again and again');
    assert.ok(sent[1]! - sent[0]! >= 1900, `sent again ${sent[1]! - sent[0]!} ms later, not before Retry-After`);
    assert.equal(await page.locator('.error-box').count(), 0, 'no error shown');
    assert.equal(await page.getByRole('status').filter({ hasText: 'The server is busy' }).count(), 0, 'the banner is gone once answered');
    await page.close();
  });

  it('a live stream refused with 429 and Retry-After: 4 reconnects after 4 s, not after its usual 1 s', async () => {
    const page = await context.newPage();
    const opened: number[] = [];
    await page.route(/\/api\/v1\/queue\/events/, async (route: Route) => {
      opened.push(Date.now());
      if (opened.length === 1) return route.fulfill({ status: 429, headers: { 'retry-after': '4', 'content-type': 'application/json' }, body: shedBody('GANTRY_E_RATE_LIMITED', 4) });
      return route.continue();
    });
    await page.goto(`${up.url}/queue`);
    await page.getByRole('heading', { name: 'Queue' }).waitFor();
    await page.waitForFunction(() => document.querySelector('.card.empty') !== null || document.querySelectorAll('table tr').length > 0, null, { timeout: 15_000 });
    assert.ok(opened.length >= 2, 'the stream was opened again');
    assert.ok(opened[1]! - opened[0]! >= 3900, `reopened ${opened[1]! - opened[0]!} ms later, not before Retry-After`);
    assert.equal(await page.locator('.error-box').count(), 0, 'no error shown');
    await page.close();
  });

  it('an answer the client should not wait out (Retry-After past 30 s) is shown as the error it is', async () => {
    const page = await context.newPage();
    await page.route(/\/api\/v1\/projects\?/, (route: Route) =>
      route.fulfill({ status: 503, headers: { 'retry-after': '120', 'content-type': 'application/json' }, body: shedBody('GANTRY_E_OVERLOADED', 120) }),
    );
    await page.goto(up.url);
    await page.locator('.error-box').filter({ hasText: 'GANTRY_E_OVERLOADED' }).waitFor();
    await page.close();
  });
});
