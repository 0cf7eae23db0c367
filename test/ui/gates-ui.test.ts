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
    await up.signInAsAdmin(page);
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
  it("a project's compute minutes: the month's figures, minutes per day by pool as a chart and a table, the billing lines; the instance's page lists the projects that use the most", async () => {
    // The pipeline of the test above ran (and consumed) in this month; a quota makes the figures.
    assert.equal((await up.api<{ monthlyMinutes: number }>('PUT', '/projects/web/quota', { monthlyMinutes: 5 })).monthlyMinutes, 5);
    await page.goto(`${up.url}/projects/web`);
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.waitForURL(/\/projects\/web\/usage$/);
    await page.getByRole('heading', { name: 'Compute minutes' }).waitFor();
    const figure = (name: string) => page.locator('.figures div', { has: page.locator('dt', { hasText: name }) }).locator('dd');
    assert.equal(await figure('Monthly quota').textContent(), '5 min');
    const used = Number((await figure('Used').textContent())!.replace(' min', ''));
    assert.ok(used > 0 && used < 1, `used ${used}`);
    // The chart: Chartist's SVG, one bar (today's, of the one pool), none for days without use; its numbers in the table.
    await page.locator('.usage-chart svg .ct-bar').first().waitFor({ state: 'attached' }); // a vertical line: no width to be "visible"
    assert.equal(await page.locator('.usage-chart svg .ct-bar').count(), 1);
    assert.equal(await page.locator('.usage-chart svg .pool-0 .ct-bar').count(), 1);
    assert.match((await page.locator('.legend').textContent()) ?? '', /^default: [0-9.]+ min$/);
    await page.getByText('Minutes per day as a table').click();
    const today = new Date().toISOString().slice(0, 10);
    await page.getByRole('row', { name: new RegExp(`^${today} [0-9.]+ min$`) }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Billing lines (CSV)' }).click()]);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    assert.match(csv, /^pipeline,job,attempt,pool,factor,seconds,minutes\n[0-9]+,[0-9]+,1,default,1,/);
    // The month before: nothing used, and the way back.
    await page.getByRole('button', { name: /^← / }).click();
    await page.getByText('No compute minutes were used this month.').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, '62-usage-project.png') });
    // The instance's page, from the user menu (an admin): the project that used the most first.
    await page.goto(`${up.url}/projects/web/usage`);
    await page.locator('.user-menu button').first().click();
    await page.getByRole('link', { name: 'Compute minutes' }).click();
    await page.waitForURL(/\/admin\/usage$/);
    await page.getByRole('heading', { name: 'Compute minutes of the instance' }).waitFor();
    await page.getByRole('link', { name: 'web' }).waitFor();
    await page.locator('.usage-chart svg .ct-bar').first().waitFor({ state: 'attached' }); // a vertical line: no width to be "visible"
    await page.screenshot({ path: path.join(SCREENSHOTS, '63-usage-instance.png') });
  });
});
