// Pictures and lint in the web UI, end to end: a real `gantry up`, a real browser. A pipeline
// whose `test` job fails and passes on a retry shows its timeline (each job's wait and run on one
// axis, the critical path build → test marked and named), and the project's insights page shows
// the day's success rate and durations as charts and tables, the slowest jobs and `test` as the
// flakiest. The lint page checks a file as it is typed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const skip = skipReason();
const PIPELINE = [
  'build:',
  '  stage: build',
  '  script: [sleep 1]',
  'lint:',
  '  stage: build',
  '  script: [echo lint]',
  'test:',
  '  stage: test',
  '  needs: [build]',
  // Fails once (the mark is made), passes on the retry: flaky.
  '  script: [\'test -f "$MARK" || { touch "$MARK"; exit 1; }\']',
  '',
].join('\n');

describe('timeline, insights and lint in the web UI', { skip, timeout: 90_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let page: Page;

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    up = new GantryUp({ '.gantry.yml': PIPELINE });
    await up.start();
    await up.api('POST', '/projects', { name: 'web', gitUrl: up.sb.repo });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' })).newPage();
    page.setDefaultTimeout(15_000);
  });
  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  async function settled(id: number, status: string): Promise<{ jobs: Array<{ id: number; name: string; status: string }> }> {
    for (let i = 0; i < 150; i++) {
      const p = await up.api<{ status: string; jobs: Array<{ id: number; name: string; status: string }> }>('GET', `/pipelines/${id}`);
      if (p.status === status) return p;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`pipeline ${id} did not become ${status}`);
  }

  it('a pipeline retried to green: its timeline marks the critical path; the insights page charts the day and names the flaky job', async () => {
    const mark = path.join(up.sb.base, 'flaky-mark');
    const p = await up.api<{ id: number }>('POST', '/projects/web/pipelines', { ref: 'main', variables: { MARK: mark } });
    const failed = await settled(p.id, 'failed');
    await up.api('POST', `/jobs/${failed.jobs.find((j) => j.name === 'test')!.id}/retry`);
    await settled(p.id, 'success');

    await up.signInAsAdmin(page);
    await page.goto(`${up.url}/pipelines/${p.id}`);
    const card = page.getByRole('region', { name: 'Timeline' });
    await card.locator('svg .ct-bar').first().waitFor({ state: 'attached' });
    // build and test are on the path (dashed, and ◆ before their names); lint is not.
    assert.match((await card.locator('.critical-path').textContent()) ?? '', /Critical path \(.+ of .+\): build → test\./);
    const labels = await card.locator('svg .ct-label').allTextContents();
    assert.ok(labels.includes('◆ build') && labels.includes('◆ test') && labels.includes('lint'), labels.join(' | '));
    assert.ok((await card.locator('svg .ct-bar.tl-critical').count()) >= 3, 'build and both attempts of test are marked');
    await card.getByText('The timeline as a table').click();
    await card.getByRole('row', { name: /^test 2 \d+s \d+s yes$/ }).waitFor();
    await card.getByRole('row', { name: /^lint 1 \d+s \d+s no$/ }).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, '70-pipeline-timeline.png'), fullPage: true });

    await page.goto(`${up.url}/projects/web`);
    await page.getByRole('link', { name: 'Insights' }).click();
    await page.waitForURL(/\/projects\/web\/insights$/);
    await page.getByRole('heading', { name: 'Insights' }).waitFor();
    const figure = (name: string) => page.locator('.figures div', { has: page.locator('dt', { hasText: name }) }).locator('dd');
    assert.equal(await figure('Pipelines finished').textContent(), '1');
    assert.equal(await figure('Success rate').textContent(), '100%');
    await page.getByRole('img', { name: 'Success rate per day over the last 28 days' }).locator('svg .ct-point').first().waitFor({ state: 'attached' });
    await page.getByRole('img', { name: /Pipeline duration per day/ }).locator('svg .line-p95').first().waitFor({ state: 'attached' });
    await page.getByRole('table').filter({ has: page.getByRole('columnheader', { name: 'Failed, then passed on a retry' }) }).getByRole('row', { name: 'test 1 1 100%' }).waitFor();
    const slow = page.locator('table.slowest-jobs tbody th');
    assert.equal(await slow.first().textContent(), 'build', 'build (sleep 1) is the slowest');
    await page.getByRole('button', { name: '7 days' }).click();
    await page.waitForURL(/\?days=7$/);
    assert.equal(await page.getByRole('button', { name: '7 days' }).getAttribute('aria-pressed'), 'true');
    await page.screenshot({ path: path.join(SCREENSHOTS, '71-project-insights.png'), fullPage: true });
  });

  it('the lint page: an error marked at its line as it is typed, a click puts the cursor there; once fixed, the stages and the jobs rules leave out', async () => {
    await page.goto(`${up.url}/projects/web`);
    await page.getByRole('link', { name: 'Lint' }).click();
    await page.waitForURL(/\/projects\/web\/lint$/);
    const editor = page.getByRole('textbox', { name: 'Pipeline file' });
    await editor.fill('build:\n  stage: nope\n  script: [make]\n');
    const error = page.getByRole('button', { name: 'line 2, column 10' });
    await error.waitFor();
    assert.equal(await editor.getAttribute('aria-invalid'), 'true');
    assert.match((await page.locator('.lint-gutter').textContent()) ?? '', /^1\n⚠ 2\n3/);
    await error.click();
    assert.equal(await editor.evaluate((el: HTMLTextAreaElement) => el.selectionStart), 'build:\n'.length + 9);
    await editor.fill('build:\n  stage: build\n  script: [make]\ndeploy:\n  stage: deploy\n  rules:\n    - if: $CI_COMMIT_TAG\n  script: [ship]\n');
    await page.getByRole('status').getByText(/^Valid, read with main/).waitFor();
    await page.getByRole('region', { name: 'Stage build' }).getByRole('listitem').getByText('build', { exact: true }).waitFor();
    await page.getByText('deploy: no rule of its rules (line 7) matched').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, '72-lint.png'), fullPage: true });
  });
});
