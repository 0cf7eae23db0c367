// The web UI end to end: a real `gantry up`, a real agent running real jobs, a real browser.
// One browser, one pipeline, the flows a person takes in order: sign in, run a pipeline with a
// variable, watch a log line arrive live, cancel a running job, retry the failed ones, open a
// line link and reload, play a manual job; screenshots of each page go to test-output/ui/.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const PIPELINE = `stages: [build, test, deploy]

build:
  stage: build
  script:
    - printf '\\033[32mcompiling\\033[0m with \\033[1;31mcolour\\033[0m\\n'
    - for i in $(seq 1 300); do echo "build output line $i"; done
    - echo BUILD-DONE

slow:
  stage: test
  needs: [build]
  script:
    - echo "slow job started"
    - sleep 1
    - echo "slow job still going"
    - sleep 60

flaky:
  stage: test
  needs: [build]
  script:
    - echo "failing on purpose"
    - exit 3

lint:
  stage: test
  script:
    - echo "lint ok"

deploy:
  stage: deploy
  needs: [build]
  when: manual
  script:
    - echo "deployed with FOO=$FOO"
`;

interface PipelineView {
  id: number;
  status: string;
  jobs: { id: number; name: string; status: string; attempts: number }[];
}

const skip = skipReason();

describe('the web UI', { skip, timeout: 110_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let pipelineId = 0;
  const jobId = async (name: string) => (await up.api<PipelineView>('GET', `/pipelines/${pipelineId}`)).jobs.find((j) => j.name === name)!.id;
  /** A line of the log whose text is exactly `text` (not the `$ echo` line that printed it). */
  const logLine = (text: string) => page.locator('.log-line .lt', { hasText: new RegExp(`^${text}$`) });
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    up = new GantryUp({ '.gantry.yml': PIPELINE });
    await up.start();
    await up.api('POST', '/projects', { name: 'web', gitUrl: up.sb.repo });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  it('sends a visitor without a token to sign-in, and signs in with the admin token', async () => {
    await page.goto(`${up.url}/projects/web`);
    await page.waitForURL(/\/login$/);
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('unknown token').waitFor();
    await shot('01-sign-in');
    await page.getByLabel('Token').fill(up.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Back where the visitor was going, and the token is in storage, never in the address.
    await page.waitForURL(/\/projects\/web$/);
    assert.ok(!page.url().includes(up.token));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gantry.token') !== null), true);
  });

  it('lists projects', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('link', { name: 'web' }).waitFor();
    await shot('02-projects');
  });

  it('runs a pipeline with a variable from the project page', async () => {
    await page.getByRole('link', { name: 'web' }).click();
    await page.getByText('No pipelines yet').waitFor();
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    await page.getByLabel('Branch, tag or commit').fill('main');
    await page.getByLabel('Variable 1 key').fill('FOO');
    await page.getByLabel('Variable 1 value').fill('bar');
    await shot('03-run-pipeline-form');
    await page.getByRole('form', { name: 'Run pipeline' }).getByRole('button', { name: 'Run pipeline' }).click();
    await page.waitForURL(/\/pipelines\/\d+$/);
    pipelineId = Number(page.url().split('/').pop());
    await page.locator('.vars dt', { hasText: 'FOO' }).waitFor();
    // Started by a person in the UI: GitLab's `web` source, as the pipeline's header says.
    await page.getByText(/source\s*web/).first().waitFor();
    // The graph: one box per job, `needs` as edges.
    assert.equal(await page.locator('.dag-node').count(), 5);
    assert.ok((await page.locator('.dag-edges path').count()) >= 3);
    await page.locator('.dag-node.st-success', { hasText: 'build' }).waitFor();
  });

  it('shows a running job\'s log live, and cancels the job', async () => {
    await page.locator('.dag-node.st-running', { hasText: 'slow' }).waitFor();
    await shot('04-pipeline');
    await page.locator('.dag-node', { hasText: 'slow' }).getByRole('link').click();
    await page.waitForURL(/\/jobs\/\d+$/);
    await logLine('slow job started').waitFor();
    // Printed a second after the page opened: it can only have arrived live.
    await logLine('slow job still going').waitFor();
    await shot('05-job-running');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.page-head .badge.st-canceled').waitFor();
  });

  it('retries the failed jobs of the pipeline, and switches between attempts', async () => {
    await page.getByRole('link', { name: `Pipeline #${pipelineId}` }).click();
    await page.locator('.dag-node.st-failed', { hasText: 'flaky' }).waitFor();
    await page.locator('.page-head .badge.st-failed').waitFor();
    await page.getByRole('button', { name: 'Retry failed jobs' }).click();
    await page.waitForFunction(async () => true);
    const flaky = await jobId('flaky');
    for (let i = 0; i < 100; i++) {
      const p = await up.api<PipelineView>('GET', `/pipelines/${pipelineId}`);
      if (p.jobs.find((j) => j.name === 'flaky')!.attempts === 2 && p.jobs.find((j) => j.name === 'flaky')!.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.goto(`${up.url}/jobs/${flaky}`);
    const select = page.getByLabel('Attempt');
    await select.waitFor();
    assert.match(await select.locator('option').first().innerText(), /#1 failed \(script_failure\)/);
    await select.selectOption('1');
    await page.waitForURL(/attempt=1/);
    await logLine('failing on purpose').waitFor();
  });

  it('opens a line link, and it survives a reload', async () => {
    const build = await jobId('build');
    await page.goto(`${up.url}/jobs/${build}`);
    await logLine('build output line 1').waitFor();
    // ANSI colours became styles, escapes are gone.
    await page.locator('.log-line .fg-p2', { hasText: /^compiling$/ }).waitFor();
    assert.ok(!(await page.locator('.log').innerText()).includes('\u001b'));
    // The log opens at the top; a line number is a link that goes into the address.
    await page.locator('a.ln', { hasText: /^20$/ }).click();
    await page.waitForURL(/#L20$/);
    assert.match(await page.locator('.log-line.selected').innerText(), /build output line 12$/); // 8 lines of the agent first (get_sources among them)
    // A link to a line far out of view: the page scrolls to it, and again after a reload.
    await page.goto(`${up.url}/jobs/${build}#L150`);
    await page.locator('.log-line.selected').waitFor();
    await page.reload();
    const selected = page.locator('.log-line.selected');
    await selected.waitFor();
    assert.match(await selected.innerText(), /build output line 142$/);
    assert.ok(await selected.isVisible());
    await page.getByLabel('Search the log').fill('output line 29');
    await page.getByText(/1 \/ \d+/).waitFor();
    await page.getByLabel('Timestamps').check();
    await shot('06-job-log-line-link');
  });

  it('plays the manual job, which runs with the pipeline\'s variables', async () => {
    await page.goto(`${up.url}/pipelines/${pipelineId}`);
    await page.getByRole('button', { name: 'play deploy' }).click();
    await page.locator('.dag-node.st-success', { hasText: 'deploy' }).waitFor({ timeout: 20_000 });
    const deploy = await jobId('deploy');
    await page.goto(`${up.url}/jobs/${deploy}`);
    await logLine('deployed with FOO=bar').waitFor();
  });

  it('lists the local agent, busy or idle, with its last sighting', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
    await page.locator('.agents tbody tr').first().waitFor();
    assert.match(await page.locator('.agents tbody').innerText(), /online/);
    await shot('07-agents');
  });

  it('works in the dark theme and on a narrow screen', async () => {
    await page.goto(`${up.url}/projects/web`);
    await page.locator('table.pipelines').waitFor();
    await shot('08-project-pipelines');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${up.url}/pipelines/${pipelineId}`);
    await page.locator('.dag-node').first().waitFor();
    await shot('09-pipeline-dark');
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${up.url}/projects/web`);
    await page.locator('table.pipelines').waitFor();
    await shot('10-project-narrow-dark');
    // Leave nothing running behind: cancel what the retry started.
    await page.goto(`${up.url}/pipelines/${pipelineId}`);
    const cancel = page.getByRole('button', { name: 'Cancel pipeline' });
    if (await cancel.isVisible()) await cancel.click();
  });
});
