// Parent-child pipelines in the web UI: a real `gantry up` (server and its agent), a real browser.
// The parent's page shows its child in a Downstream card with the child's status and a link; the
// child's page links back to its parent.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const skip = skipReason();

describe('parent-child pipelines in the web UI', { skip, timeout: 90_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let page: Page;

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    up = new GantryUp({
      '.gantry.yml': 'kid:\n  trigger: {include: child.yml, strategy: depend}\n',
      'child.yml': 'inner:\n  script: [echo inner]\n',
    });
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

  it("the parent's page shows the child with its status and links to it; the child's page links back", async () => {
    const p = await up.api<{ id: number }>('POST', '/projects/web/pipelines', { ref: 'main' });
    await up.signInAsAdmin(page);
    await page.goto(`${up.url}/pipelines/${p.id}`);
    const card = page.getByTestId('downstream-pipeline');
    await card.locator('.badge.st-success').waitFor();
    assert.match((await card.textContent()) ?? '', /Pipeline #\d+.*triggered by.*kid/s);
    await page.screenshot({ path: path.join(SCREENSHOTS, '70-downstream-card.png') });
    await card.getByRole('link').click();
    const back = page.getByTestId('parent-pipeline');
    await back.waitFor();
    await back.getByRole('link', { name: `Pipeline #${p.id}` }).click();
    await page.waitForURL(new RegExp(`/pipelines/${p.id}$`));
  });
});
