// Every page of the web UI passes axe-core's WCAG 2.1 A and AA checks with no serious or critical
// violation, in the light theme and (for the pages with the most colour: a pipeline, a job's log)
// the dark one. A real `gantry up` with a pipeline that has something on every page: a coloured
// log, a failure, a manual job, an environment, compute minutes, insights.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const skip = skipReason();
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const PIPELINE = [
  'build:',
  '  stage: build',
  // Every colour a log line may take, bold and faint too, and a section.
  "  script: ['for c in 30 31 32 33 34 35 36 37 90 91 92 93 94 95 96 97; do printf \"\\e[${c}mcolour $c\\e[0m \\e[1;${c}mbold\\e[0m\\n\"; done', 'echo plain']",
  'test:',
  '  stage: test',
  '  script: [exit 3]',
  '  allow_failure: true',
  'deploy:',
  '  stage: deploy',
  '  environment: production',
  '  when: manual',
  '  script: [echo deploy]',
  '',
].join('\n');

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[]; html: string; failureSummary?: string }>;
}

describe('accessibility of every page (axe-core)', { skip, timeout: 240_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let pipelineId = 0;
  let jobId = 0;

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    up = new GantryUp({ '.gantry.yml': PIPELINE });
    await up.start();
    await up.api('POST', '/projects', { name: 'web', gitUrl: up.sb.repo });
    await up.api('PUT', '/projects/web/quota', { monthlyMinutes: 100 });
    const p = await up.api<{ id: number; jobs: Array<{ id: number; name: string }> }>('POST', '/projects/web/pipelines', { ref: 'main' });
    pipelineId = p.id;
    jobId = p.jobs.find((j) => j.name === 'build')!.id;
    for (let i = 0; i < 200; i++) {
      const now = await up.api<{ jobs: Array<{ name: string; status: string }> }>('GET', `/pipelines/${p.id}`);
      if (now.jobs.find((j) => j.name === 'test')!.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  async function signedIn(colorScheme: 'light' | 'dark'): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme, bypassCSP: true })).newPage();
    page.setDefaultTimeout(15_000);
    await up.signInAsAdmin(page);
    return page;
  }

  /** axe's serious and critical violations of the page as it stands, WCAG 2.1 A and AA. */
  async function violations(page: Page): Promise<Violation[]> {
    await page.addScriptTag({ path: AXE });
    const found = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(ctx: Document, opts: unknown): Promise<{ violations: Violation[] }> } }).axe;
      return (await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })).violations;
    });
    return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  }

  const describeViolations = (path: string, vs: Violation[]) =>
    vs.map((v) => `${path}: ${v.id} (${v.impact}) ${v.help}\n${v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')} ${n.html.slice(0, 160)}: ${(n.failureSummary ?? '').split('\n').slice(0, 3).join(' / ')}`).join('\n')}`).join('\n');

  async function ready_(page: Page, path: string, ready: string): Promise<void> {
    await page.locator(ready).first().waitFor().catch(async (e: Error) => {
      throw new Error(`${path}: ${ready} did not appear: ${e.message.split('\n')[0]}; the page: ${(await page.locator('body').innerText()).slice(0, 300)}`);
    });
    // Live pages never go network-idle (their event streams stay open): a moment to settle.
    await page.waitForTimeout(300);
  }

  /** Path, and what must be on the page before it is checked. */
  const pages = (): Array<[string, string]> => [
    ['/', 'h1'],
    ['/projects/web', 'h1'],
    [`/pipelines/${pipelineId}`, '.dag-node'],
    [`/jobs/${jobId}`, 'text=colour 37'],
    ['/projects/web/environments', 'h1'],
    ['/projects/web/usage', 'h1'],
    ['/projects/web/insights', 'h1'],
    ['/projects/web/lint', 'h1'],
    ['/projects/web/settings', 'h1'],
    ['/projects/web/settings/members', 'h1'],
    ['/projects/web/settings/audit', 'h1'],
    ['/agents', 'h1'],
    ['/queue', 'h1'],
    ['/account/tokens', 'h1'],
    ['/admin/audit', 'h1'],
    ['/admin/usage', 'h1'],
    // A path under a page prefix the app does not know: its own not-found page.
    ['/projects/web/no-such-tab', 'h1'],
  ];

  it('every page in the light theme, and the sign-in page signed out: no serious or critical violation', async () => {
    const failures: string[] = [];
    const out = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true })).newPage();
    await out.goto(`${up.url}/login`);
    await out.getByLabel('Username').waitFor();
    failures.push(describeViolations('/login', await violations(out)));
    const page = await signedIn('light');
    for (const [path, ready] of pages()) {
      await page.goto(`${up.url}${path}`);
      await ready_(page, path, ready);
      failures.push(describeViolations(path, await violations(page)));
    }
    const text = failures.filter(Boolean).join('\n');
    assert.equal(text, '', `serious or critical accessibility violations:\n${text}`);
  });

  it('the pipeline and job pages (graph, coloured log) in the dark theme: no serious or critical violation', async () => {
    const failures: string[] = [];
    const page = await signedIn('dark');
    for (const [path, ready] of pages().filter(([p]) => p.startsWith('/pipelines/') || p.startsWith('/jobs/') || p === '/')) {
      await page.goto(`${up.url}${path}`);
      await ready_(page, path, ready);
      failures.push(describeViolations(path, await violations(page)));
    }
    const text = failures.filter(Boolean).join('\n');
    assert.equal(text, '', `serious or critical accessibility violations:\n${text}`);
  });
});
