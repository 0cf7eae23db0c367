// The gates in the web UI, end to end: a real `gantry up`, a real browser. A deployment to a
// protected environment waits in the pipeline graph with an approve button; a maintainer (signed
// in, not the token that triggered it) approves it there and it runs; the environments page shows
// the protection and the deployment with who approved it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const skip = skipReason();

describe('gates in the web UI', { skip, timeout: 90_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let page: Page;

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    up = new GantryUp({ '.gantry.yml': 'build:\n  script: [echo built]\ndeploy:\n  stage: deploy\n  environment: production\n  script: [echo deployed]\n' });
    await up.start();
    await up.api('POST', '/projects', { name: 'web', gitUrl: up.sb.repo });
    await up.api('PUT', '/projects/web/environments/production', { requiredApprovals: 1 });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })).newPage();
    page.setDefaultTimeout(15_000);
  });
  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  it('a waiting deployment is approved from the pipeline graph, runs, and shows on the environments page', async () => {
    // Triggered by the admin token: the admin user signed in below is someone else, who may approve.
    const p = await up.api<{ id: number; jobs: Array<{ id: number; name: string }> }>('POST', '/projects/web/pipelines', { ref: 'main' });
    await page.goto(`${up.url}/login`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(up.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/$/);
    await page.goto(`${up.url}/pipelines/${p.id}`);
    const approve = page.getByRole('button', { name: 'approve deploy' });
    await approve.waitFor();
    assert.match((await page.locator('.dag-node.st-waiting_for_approval').textContent()) ?? '', /deploy/);
    await page.screenshot({ path: path.join(SCREENSHOTS, '60-deployment-waiting.png') });
    await approve.click();
    await page.locator('.badge.st-success').first().waitFor();
    await page.goto(`${up.url}/projects/web/environments`);
    const env = page.getByRole('region', { name: 'Environment production' });
    await env.getByText('protected: 1 approval').waitFor();
    await env.getByRole('cell', { name: 'admin approved' }).waitFor();
    await env.getByRole('link', { name: `deploy #${p.jobs.find((j) => j.name === 'deploy')!.id}` }).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, '61-environments.png') });
  });
});
