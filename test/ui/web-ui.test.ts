// The web UI end to end: a real `gantry up`, a real agent running real jobs, a real browser.
// One browser, one pipeline, the flows a person takes in order: sign in, run a pipeline with a
// variable, watch a log line arrive live, cancel a running job, retry the failed ones, open a
// line link and reload, play a manual job; then the queue (a job for a tag no agent has), a job's
// artifacts, and a project's settings; screenshots of each page go to test-output/ui/.

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

sections:
  stage: build
  script:
    - echo -e "\\e[0Ksection_start:$(date +%s):deps[collapsed=true]\\r\\e[0K\\e[1mInstalling dependencies\\e[0m"
    - for i in $(seq 1 40); do echo "dep line $i"; done
    - echo -e "\\e[0Ksection_start:$(date +%s):deps_nested\\r\\e[0KNested step"
    - echo "nested output"
    - sleep 2
    - echo -e "\\e[0Ksection_end:$(date +%s):deps_nested\\r\\e[0K"
    - echo -e "\\e[0Ksection_end:$(date +%s):deps\\r\\e[0K"
    - echo -e "\\e[0Ksection_start:$(date +%s):tests\\r\\e[0KRunning tests"
    - echo "test output"
    - echo -e "\\e[0Ksection_end:$(date +%s):tests\\r\\e[0K"

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
  coverage: '/lint coverage: \\d+\\.\\d+%/'
  script:
    - echo "lint ok"
    - 'echo "lint coverage: 91.50%"'
    - printf 'LINT_SCORE=9.5\\nLINT_TOOL=eslint\\n' > lint.env
  artifacts:
    reports:
      dotenv: lint.env

deploy:
  stage: deploy
  needs: [build]
  when: manual
  script:
    - echo "deployed with FOO=$FOO"
`;

/** Branch `gpu` of the same repository: a job no agent can take, and one that uploads artifacts. */
const GPU_PIPELINE = `gpu-train:
  tags: [gpu]
  script: [echo training]

package:
  script:
    - mkdir -p out && echo report > out/report.txt && echo notes > out/notes.txt
  artifacts:
    paths: [out/]
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
    up.sb.git('checkout', '-q', '-b', 'gpu');
    up.sb.write('.gantry.yml', GPU_PIPELINE);
    up.sb.commit('gpu pipeline');
    up.sb.git('checkout', '-q', 'main');
    await up.api('POST', '/projects', { name: 'ml', gitUrl: up.sb.repo });
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
    // A username and password first; a token is for automation, one click away.
    await page.getByLabel('Username').waitFor();
    await page.getByRole('button', { name: 'Use a token instead' }).click();
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
    // The header says who: the admin token.
    assert.match(await page.getByRole('button', { name: 'Signed in as admin token' }).innerText(), /^Signed in as\s+admin token/);
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
    // Started by a person in the UI: GitLab's `web` source, as the pipeline's header says, and by whom (the admin token).
    await page.getByText(/source\s*web/).first().waitFor();
    assert.equal(await page.locator('.facts .who').innerText(), 'admin token');
    // The graph: one box per job, `needs` as edges.
    assert.equal(await page.locator('.dag-node').count(), 6);
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
    // The script's section is still open: its time runs.
    await page.locator('.log-line.sec-head:not(.pinned)', { hasText: 'step_script' }).locator('.sec-time.running').waitFor();
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

  it("shows the coverage on the pipeline page (its jobs' average) and on the job page, and a job's dotenv variables", async () => {
    await page.goto(`${up.url}/pipelines/${pipelineId}`);
    await page.getByTestId('pipeline-coverage').filter({ hasText: /coverage\s*91\.5%/ }).waitFor();
    await page.goto(`${up.url}/jobs/${await jobId('lint')}`);
    await page.getByTestId('job-coverage').filter({ hasText: /coverage\s*91\.5%/ }).waitFor();
    // The project's list has it too, in a column of its own.
    await page.goto(`${up.url}/projects/web`);
    await page.locator(`tr:has(a[href="/pipelines/${pipelineId}"]) td[data-label="Coverage"]`).filter({ hasText: '91.5%' }).waitFor();
    await page.goto(`${up.url}/jobs/${await jobId('lint')}`);
    const dotenv = page.getByRole('region', { name: 'Variables for later jobs' });
    await dotenv.waitFor();
    assert.deepEqual(await dotenv.locator('tbody tr').allInnerTexts(), ['LINT_SCORE\t9.5', 'LINT_TOOL\teslint']);
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
    assert.match(await page.locator('.log-line.selected').innerText(), /build output line 11$/); // 9 lines of the agent first (get_sources and the isolation among them)
    // A link to a line far out of view: the page scrolls to it, and again after a reload.
    await page.goto(`${up.url}/jobs/${build}#L150`);
    await page.locator('.log-line.selected').waitFor();
    await page.reload();
    const selected = page.locator('.log-line.selected');
    await selected.waitFor();
    assert.match(await selected.innerText(), /build output line 141$/);
    assert.ok(await selected.isVisible());
    await page.getByLabel('Search the log').fill('output line 29');
    await page.getByText(/1 \/ \d+/).waitFor();
    await page.getByLabel('Timestamps').check();
    await shot('06-job-log-line-link');
  });

  it('folds log sections: collapsed=true ones start folded, with their durations; a line link and the search unfold what hides their line', async () => {
    const sections = await jobId('sections');
    for (let i = 0; i < 150 && (await up.api<{ status: string }>('GET', `/jobs/${sections}`)).status !== 'success'; i++) await new Promise((r) => setTimeout(r, 100));
    await page.goto(`${up.url}/jobs/${sections}`);
    await page.locator('.live-dot', { hasText: /lines$/ }).waitFor();
    const deps = page.getByRole('button', { name: /^Installing dependencies/ });
    const head = page.locator('.log-line.sec-head:not(.pinned)', { hasText: 'Installing dependencies' });
    // Folded (collapsed=true): its 40 lines and the nested section are hidden, its count and time shown.
    assert.equal(await deps.getAttribute('aria-expanded'), 'false');
    assert.equal(await logLine('dep line 1').count(), 0);
    assert.match(await head.locator('.sec-lines').innerText(), /^4[0-9] lines$/);
    assert.match(await head.locator('.sec-time').innerText(), /^[2-4]s$/);
    // The agent's own steps are sections too, open, each timed.
    assert.equal(await page.getByRole('button', { name: /section step_script/ }).getAttribute('aria-expanded'), 'true');
    assert.match(await page.locator('.log-line.sec-head:not(.pinned)', { hasText: 'Running tests' }).locator('.sec-time').innerText(), /^(< 1s|1s)$/);
    // The markers never show as text (the echoed commands that print them do: they say $(date +%s)).
    const texts = await page.locator('.log-line .lt').allInnerTexts();
    assert.ok(texts.some((t) => t.includes('section_start:$(date')));
    assert.ok(!texts.some((t) => /section_(start|end):\d|\u001b/.test(t)));
    await shot('16-log-sections-folded');
    // Unfolded by a click, folded again with the keyboard.
    await deps.click();
    await logLine('dep line 40').waitFor();
    await page.locator('.log').hover();
    await page.mouse.wheel(0, 700);
    await page.getByRole('button', { name: /^Nested step/ }).waitFor();
    // Scrolled into the section, its header and the script's stay pinned at the top.
    assert.deepEqual(await page.locator('.log-line.pinned .lt').allInnerTexts(), ['Executing "step_script" stage of the job script', 'Installing dependencies']);
    assert.match(await page.locator('.log-line.sec-head:not(.pinned)', { hasText: 'Nested step' }).locator('.sec-time').innerText(), /^[2-3]s$/);
    await shot('17-log-sections-open');
    await page.mouse.wheel(0, -2000);
    await deps.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => ![...document.querySelectorAll('.log-line .lt')].some((e) => e.textContent === 'dep line 1'));
    // Line numbers are the log's lines, folded or not: a link into the folded section unfolds it.
    const hit = await up.api<{ hits: { line: number }[] }>('GET', `/jobs/${sections}/log/search?q=${encodeURIComponent('dep line 30')}`);
    const line = hit.hits[0]!.line;
    await page.goto(`${up.url}/jobs/${sections}#L${line}`);
    const selected = page.locator('.log-line.selected');
    await selected.waitFor();
    assert.match(await selected.innerText(), /dep line 30$/);
    assert.equal(await selected.locator('a.ln').innerText(), String(line));
    assert.ok(await selected.isVisible());
    // The search finds a line in a folded section (nested two deep) and unfolds both to show it.
    await page.goto(`${up.url}/jobs/${sections}`);
    await page.locator('.live-dot', { hasText: /lines$/ }).waitFor();
    assert.equal(await logLine('nested output').count(), 0);
    await page.getByLabel('Search the log').fill('nested output');
    await page.getByText('1 / 2').waitFor(); // the echoed command, then its output
    await page.locator('.log-line.current', { hasText: 'nested output' }).waitFor();
    assert.ok(await logLine('nested output').isVisible());
    await shot('18-log-sections-search');
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

  it("shows each agent's isolation: the level (none plainly not isolated), the check and its time, the limits, and the probes on demand", async () => {
    // A sandboxed agent, over the agent protocol: it registers and opens a session, never polls.
    const token = fs.readFileSync(path.join(up.sb.home, 'agent.token'), 'utf8').trim();
    const facts = {
      name: 'sandboxed-box',
      tags: ['isolated'],
      pool: 'gpu',
      concurrency: 1,
      version: 't',
      protocol: 1,
      isolation: 'sandbox',
      limits: { memoryBytes: 4 * 2 ** 30, pids: 512, cpus: 2 },
      isolationCheck: {
        passed: true,
        checkedAt: new Date(Date.now() - 5 * 60_000).toISOString(),
        probes: [
          { area: 'files', probe: "read the agent's identity file", expected: 'denied', observed: 'denied: No such file or directory', ok: true },
          { area: 'network', probe: 'connect to 1.1.1.1:443', expected: 'refused', observed: 'refused: Network is unreachable', ok: true },
        ],
      },
    };
    const post = async (p: string, bearer: string) =>
      (await fetch(`${up.url}/api/v1${p}`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(facts) })).json() as Promise<{ agentId: number; token: string }>;
    const { agentId, token: agentKey } = await post('/agent/register', token);
    await post('/agent/sessions', agentKey);
    const row = page.locator('.agents tr[data-agent="sandboxed-box"]');
    await row.getByText('check passed').waitFor();
    const text = await row.locator('td[data-label="Isolation"]').innerText();
    assert.equal(await row.locator('td[data-label="Pool"]').innerText(), 'gpu');
    assert.match(text, /sandbox/);
    assert.match(text, /5 min ago/);
    assert.match(text, /4 GiB memory · 512 processes · 2 CPUs/);
    assert.match(await page.locator('.agents tr[data-agent]').filter({ hasNotText: 'sandboxed-box' }).first().innerText(), /none · not isolated/);
    await row.getByRole('button', { name: 'Show the 2 probes of sandboxed-box' }).click();
    const probes = page.getByRole('table', { name: 'Isolation probes of sandboxed-box' });
    await probes.waitFor();
    assert.deepEqual(
      await probes.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent))),
      [
        ['files', "read the agent's identity file", 'denied', 'denied: No such file or directory', 'ok'],
        ['network', 'connect to 1.1.1.1:443', 'refused', 'refused: Network is unreachable', 'ok'],
      ],
    );
    await shot('07-agents-isolation');
    await row.getByRole('button', { name: 'Hide the 2 probes of sandboxed-box' }).click();
    await probes.waitFor({ state: 'detached' });
    const gone = await fetch(`${up.url}/api/v1/agents/${agentId}`, { method: 'DELETE', headers: { authorization: `Bearer ${up.token}` } });
    assert.equal(gone.status, 204);
  });

  let mlPipeline = 0;
  it('the queue says why a job waits: no online agent has its tags', async () => {
    mlPipeline = (await up.api<PipelineView>('POST', '/projects/ml/pipelines', { ref: 'gpu' })).id;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Queue' }).click();
    const row = page.locator('table.queue tr[data-job="gpu-train"]');
    await row.locator('.reason', { hasText: 'No online agent has the tags gpu' }).waitFor();
    assert.match(await row.innerText(), /ml\s+#\d+\s+gpu/);
    await shot('11-queue');
    // Live: another pipeline's job arrives, and leaves when it is canceled, with no reload.
    const second = (await up.api<PipelineView>('POST', '/projects/ml/pipelines', { ref: 'gpu' })).id;
    const secondRow = page.locator('table.queue tr[data-job="gpu-train"]', { hasText: `#${second}` });
    await secondRow.waitFor({ timeout: 5_000 });
    await up.api('POST', `/pipelines/${second}/cancel`);
    await secondRow.waitFor({ state: 'detached', timeout: 5_000 });
  });

  it("lists a job's artifacts and downloads them", async () => {
    let pkg: PipelineView['jobs'][number] | undefined;
    for (let i = 0; i < 150; i++) {
      pkg = (await up.api<PipelineView>('GET', `/pipelines/${mlPipeline}`)).jobs.find((j) => j.name === 'package');
      if (pkg?.status === 'success') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(pkg?.status, 'success');
    await page.goto(`${up.url}/jobs/${pkg!.id}`);
    const section = page.getByRole('region', { name: 'Artifacts' });
    await section.getByText(/attempt #1\s+2 files/).waitFor();
    await shot('12-job-artifacts');
    const [download] = await Promise.all([page.waitForEvent('download'), section.getByRole('button', { name: 'Download the artifacts of attempt 1' }).click()]);
    assert.equal(download.suggestedFilename(), 'package-1-artifacts.tar.gz');
    const bytes = fs.readFileSync((await download.path())!);
    assert.deepEqual([bytes[0], bytes[1]], [0x1f, 0x8b], 'a gzip archive');
    // gpu-train waits for ever: leave nothing queued behind.
    await up.api('POST', `/pipelines/${mlPipeline}/cancel`);
  });

  it('project settings: a masked variable is listed without its value, a schedule is created, a trigger token is shown once', async () => {
    await page.goto(`${up.url}/projects/web`);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL(/\/projects\/web\/settings$/);
    // Limits.
    await page.getByLabel('Jobs running at once').fill('3');
    await page.getByLabel('Urgent jobs').fill('deploy*\nrelease-*\n');
    await page.getByRole('region', { name: 'Repository and limits' }).getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await shot('13-settings');
    const saved = await up.api<{ maxRunning: number; urgentJobs: string[] }>('GET', '/projects/web');
    assert.deepEqual([saved.maxRunning, saved.urgentJobs], [3, ['deploy*', 'release-*']]);
    // A masked variable: its key and flag come back, never its value.
    const vars = page.getByRole('form', { name: 'Set a variable' });
    await vars.getByLabel('Key').fill('DEPLOY_KEY');
    await vars.getByLabel('Value').fill('s3cr3t-value-123');
    await vars.getByRole('button', { name: 'Set variable' }).click();
    const varRow = page.locator('table.variables tr', { hasText: 'DEPLOY_KEY' });
    await varRow.getByText('masked').waitFor();
    assert.equal(await vars.getByLabel('Value').inputValue(), '');
    assert.ok(!(await page.content()).includes('s3cr3t-value-123'));
    // A schedule, with its next run.
    const sched = page.getByRole('form', { name: 'New schedule' });
    await sched.getByLabel('Description').fill('nightly');
    await sched.getByLabel('Cron').fill('0 3 * * *');
    await sched.getByLabel('Time zone').fill('UTC');
    await sched.getByRole('button', { name: 'Create schedule' }).click();
    const schedRow = page.locator('table.schedules tr', { hasText: 'nightly' });
    await schedRow.waitFor();
    assert.match(await schedRow.locator('td[data-label="Next run"]').innerText(), /\d/);
    // A trigger token: shown once, then only its description.
    await page.getByLabel('Token description').fill('jenkins');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByTestId('new-trigger-token').innerText()).trim();
    assert.match(token, /^gantry_trigger_[A-Za-z0-9_-]{43}$/);
    await page.locator('table.tokens tr', { hasText: 'jenkins' }).waitFor();
    await page.getByRole('region', { name: 'Trigger tokens' }).scrollIntoViewIfNeeded();
    await shot('13-settings-token-once');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.reload();
    await page.locator('table.tokens tr', { hasText: 'jenkins' }).waitFor();
    assert.ok(!(await page.content()).includes(token));
    // A webhook: URL and secret shown once.
    await page.getByLabel('Webhook provider').selectOption('gitea');
    await page.getByRole('button', { name: 'Make URL and secret' }).click();
    assert.match(await page.getByTestId('webhook-url').innerText(), /\/api\/v1\/webhooks\/gitea\/\d+$/);
    assert.match(await page.getByTestId('webhook-secret').innerText(), /^gantry_whsec_/);
    await page.getByRole('region', { name: 'Webhooks' }).scrollIntoViewIfNeeded();
    await shot('15-settings-webhook-once');
    // Branch and tag filters: only main and release branches; no tags at all.
    const filters = page.getByRole('form', { name: 'Branch and tag filters' });
    await filters.getByLabel('Only branches matching these globs', { exact: false }).check();
    await filters.getByLabel('Branches: globs').fill('main\nrelease/**\n');
    await filters.getByLabel('Only tags matching these globs', { exact: false }).check();
    await filters.getByRole('button', { name: 'Save filters' }).click();
    await filters.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.deepEqual(await up.api('GET', '/projects/web/ref-filters'), { branches: ['main', 'release/**'], tags: [] });
    await page.getByRole('region', { name: 'Branches and tags' }).scrollIntoViewIfNeeded();
    await shot('21-settings-ref-filters');
    await page.reload();
    // The form fills in once the filters have been read.
    await page.waitForFunction(() => (document.getElementById('branches-globs') as HTMLTextAreaElement | null)?.value === 'main\nrelease/**');
    assert.equal(await page.getByLabel('Only tags matching these globs', { exact: false }).isChecked(), true);
    // Back to everything, so the pushes of later tests are not filtered.
    await page.getByLabel('All branches').check();
    await page.getByLabel('All tags').check();
    await page.getByRole('button', { name: 'Save filters' }).click();
    await page.getByRole('form', { name: 'Branch and tag filters' }).getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.deepEqual(await up.api('GET', '/projects/web/ref-filters'), { branches: null, tags: null });
    // The token works, on its one route.
    const res = await fetch(`${up.url}/api/v1/projects/web/trigger`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, ref: 'main' }) });
    assert.equal(res.status, 201);
    await up.api('POST', `/pipelines/${((await res.json()) as { id: number }).id}/cancel`);
  });

  it('project settings: retention is saved as the fields given, and an emptied field goes back to the instance default', async () => {
    await page.goto(`${up.url}/projects/web/settings#retention`);
    const form = page.getByRole('form', { name: 'Retention' });
    await form.getByLabel('Delete pipelines older than (days)').fill('90');
    await form.getByLabel('Keep the newest per ref').fill('5');
    await form.getByLabel('Artifacts expire in').fill('2 weeks');
    await form.getByLabel('Keep the latest artifacts of each ref').selectOption('no');
    await form.getByRole('button', { name: 'Save retention' }).click();
    await form.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const saved = await up.api<{ retention: unknown }>('GET', '/projects/web');
    assert.deepEqual(saved.retention, { pipelineDays: 90, keepPerRef: 5, logDays: null, artifactsExpireIn: '2 weeks', keepLatestArtifacts: false });
    await page.getByRole('region', { name: 'Retention' }).scrollIntoViewIfNeeded();
    await shot('23-settings-retention');
    // Read back after a reload; then one field emptied, a wrong duration refused with the API's words.
    await page.reload();
    await page.waitForFunction(() => (document.getElementById('retention-pipeline-days') as HTMLInputElement | null)?.value === '90');
    await form.getByLabel('Delete pipelines older than (days)').fill('');
    await form.getByRole('button', { name: 'Save retention' }).click();
    await form.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.equal((await up.api<{ retention: { pipelineDays: number | null } }>('GET', '/projects/web')).retention.pipelineDays, null);
    await form.getByLabel('Artifacts expire in').fill('a while');
    await form.getByRole('button', { name: 'Save retention' }).click();
    await form.locator('.error-box').filter({ hasText: 'body.retention.artifactsExpireIn' }).waitFor();
    await up.api('PATCH', '/projects/web', { retention: { pipelineDays: null, keepPerRef: null, artifactsExpireIn: null, keepLatestArtifacts: null } });
  });

  it('project settings: job isolation is edited and saved; a job that needs the sandbox waits, and the queue says why', async () => {
    await page.goto(`${up.url}/projects/ml/settings`);
    const form = page.getByRole('form', { name: 'Job isolation' });
    await form.getByLabel('Require the sandbox for every job').check();
    await form.getByLabel('Network of pipelines from forks').selectOption('none');
    await form.getByLabel('Memory per job (MiB)').fill('512');
    await form.getByLabel('CPUs per job').fill('1.5');
    await form.getByRole('button', { name: 'Save isolation' }).click();
    await form.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const saved = await up.api<Record<string, unknown>>('GET', '/projects/ml');
    assert.deepEqual([saved.requireSandbox, saved.network, saved.forkNetwork, saved.jobLimits], [true, 'full', 'none', { memoryBytes: 512 * 2 ** 20, pids: null, cpus: 1.5 }]);
    await form.scrollIntoViewIfNeeded();
    await shot('22-settings-isolation');
    await page.reload();
    await page.waitForFunction(() => (document.getElementById('job-memory') as HTMLInputElement | null)?.value === '512');
    assert.equal(await page.getByLabel('Require the sandbox for every job').isChecked(), true);
    assert.equal(await page.getByLabel('Network of pipelines from forks').inputValue(), 'none');

    // Only the local agent is online, and it runs jobs unisolated.
    const waiting = (await up.api<PipelineView>('POST', '/projects/ml/pipelines', { ref: 'gpu' })).id;
    await page.goto(`${up.url}/queue`);
    const row = page.locator('table.queue tr[data-job="package"]', { hasText: `#${waiting}` });
    await row
      .locator('.reason', { hasText: 'Needs a sandboxed agent (the project requires the sandbox): no sandboxed agent with a passing isolation check is online' })
      .waitFor();
    await shot('11-queue-needs-sandbox');
    await up.api('POST', `/pipelines/${waiting}/cancel`);
    await up.api('PATCH', '/projects/ml', { requireSandbox: false, forkNetwork: 'full', jobLimits: { memoryBytes: null, pids: null, cpus: null } });
  });

  it('works by keyboard: Tab reaches a project and Enter opens it; "/" searches a log, Enter goes to the match', async () => {
    await page.goto(`${up.url}/`);
    await page.getByRole('link', { name: 'web', exact: true }).waitFor();
    let focused = '';
    for (let i = 0; i < 20 && focused !== 'web'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.innerText?.trim() ?? '');
    }
    assert.equal(focused, 'web', 'Tab reached the project link');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/projects\/web$/);
    const sections = await jobId('sections');
    await page.goto(`${up.url}/jobs/${sections}`);
    await page.locator('.live-dot', { hasText: /lines$/ }).waitFor();
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.getAttribute('aria-label')), 'Search the log');
    // Two matches: the echoed command, then its output; Enter goes to the next, Shift+Enter back.
    await page.keyboard.type('test output');
    await page.getByText('1 / 2').waitFor();
    await page.keyboard.press('Enter');
    await page.getByText('2 / 2').waitFor();
    await page.locator('.log-line.current', { hasText: /^\D*\d+\s*[\d:.]*\s*test output$/ }).waitFor();
    await page.keyboard.press('Shift+Enter');
    await page.getByText('1 / 2').waitFor();
  });

  it('works in the dark theme and on a narrow screen', async () => {
    await page.goto(`${up.url}/projects/web`);
    await page.locator('table.pipelines').waitFor();
    // Who triggered each: the trigger token by its description, the UI's run by the admin token.
    const triggers = await page.locator('table.pipelines td[data-label="Trigger"]').allInnerTexts();
    assert.equal(triggers[0], 'trigger · jenkins');
    assert.equal(triggers[triggers.length - 1], 'web · admin token');
    await shot('08-project-pipelines');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${up.url}/pipelines/${pipelineId}`);
    await page.locator('.dag-node').first().waitFor();
    await shot('09-pipeline-dark');
    const sections = await jobId('sections');
    await page.goto(`${up.url}/jobs/${sections}#L30`);
    await page.locator('.log-line.selected').waitFor();
    await shot('19-log-sections-dark');
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${up.url}/jobs/${sections}`);
    await page.locator('.live-dot', { hasText: /lines$/ }).waitFor();
    await shot('20-log-sections-narrow-dark');
    await page.goto(`${up.url}/projects/web`);
    await page.locator('table.pipelines').waitFor();
    await shot('10-project-narrow-dark');
    await page.goto(`${up.url}/projects/web/settings`);
    await page.locator('table.variables').waitFor();
    await shot('14-settings-narrow-dark');
    // Leave nothing running behind: cancel what the retry started.
    await page.goto(`${up.url}/pipelines/${pipelineId}`);
    const cancel = page.getByRole('button', { name: 'Cancel pipeline' });
    if (await cancel.isVisible()) await cancel.click();
  });
});
