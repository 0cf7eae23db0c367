// A delayed job in the web UI: a real `gantry up` (server and its agent), a real browser. While the
// job waits its start_in, the pipeline's page says "scheduled, starts in ..." with Run now and
// Unschedule; Unschedule makes it manual there, and the job's page then offers Play.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const skip = skipReason();

describe('delayed jobs in the web UI', { skip, timeout: 90_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let page: Page;

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    up = new GantryUp({ '.gantry.yml': 'later:\n  when: delayed\n  start_in: 1 hour\n  script: [echo later]\n' });
    await up.start();
    await up.api('POST', '/projects', { name: 'web', gitUrl: up.sb.repo });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })).newPage();
    page.setDefaultTimeout(15_000);
  });
  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  it('shows "scheduled, starts in 59m ..." with Run now and Unschedule; Unschedule makes the job manual', async () => {
    const p = await up.api<{ id: number }>('POST', '/projects/web/pipelines', { ref: 'main' });
    await up.signInAsAdmin(page);
    await page.goto(`${up.url}/pipelines/${p.id}`);
    const row = page.getByTestId('delayed-job');
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /later\s*scheduled,\s*starts in (59m|1h)/);
    await page.locator('.page-head .badge.st-scheduled').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, '75-delayed-job.png') });
    await row.getByRole('button', { name: 'Unschedule' }).click();
    await row.waitFor({ state: 'detached' });
    await page.locator('.dag-node.st-manual').waitFor();
    await page.locator('.dag-node.st-manual .dag-link').click();
    await page.getByRole('button', { name: '▶ Play' }).waitFor();
  });
});
