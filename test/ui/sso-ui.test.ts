// Single sign-on in the web UI, end to end: a real `gantry up` configured with GANTRY_OIDC_* for a
// real OpenID Connect provider on loopback (oidc-provider), and Chromium. The sign-in page offers
// "Sign in with Test ID"; the browser goes to the provider's sign-in form and back, and lands where
// it was going, signed in by the session cookie, with the role its group maps to.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { freePort } from '../fleet/fleet-harness.js';
import { startTestProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const skip = skipReason();

describe('single sign-on in the web UI', { skip, timeout: 90_000 }, () => {
  let up: GantryUp;
  let provider: TestProvider;
  let browser: Browser;

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    const [gantryPort, providerPort] = [await freePort(), await freePort()];
    const publicUrl = `http://127.0.0.1:${gantryPort}`;
    provider = await startTestProvider(providerPort, [`${publicUrl}/api/v1/session/oidc/callback`]);
    provider.accounts.set('sub-dana', { email: 'dana@example.com', email_verified: true, preferred_username: 'dana', groups: ['team-web'] });
    up = new GantryUp(
      { '.gantry.yml': 'hello:\n  script: [echo hi]\n' },
      {
        GANTRY_PUBLIC_URL: publicUrl,
        GANTRY_OIDC_ISSUER: provider.issuer,
        GANTRY_OIDC_CLIENT_ID: provider.clientId,
        GANTRY_OIDC_CLIENT_SECRET: provider.clientSecret,
        GANTRY_OIDC_NAME: 'Test ID',
        GANTRY_OIDC_SCOPES: 'openid email profile groups',
        GANTRY_OIDC_ALLOWED_DOMAINS: 'example.com',
        GANTRY_OIDC_ROLE_MAP: 'team-web=web:developer',
      },
    );
    up.port = gantryPort;
    await up.start();
    await up.api('POST', '/projects', { name: 'web', gitUrl: up.sb.repo });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await up?.stop();
    await provider?.close();
  });

  it('"Sign in with Test ID": to the provider\'s form and back, signed in by cookie where the visitor was going, with the role of their group', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    const page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${up.url}/projects/web`);
    await page.waitForURL(/\/login$/);
    const sso = page.getByRole('link', { name: 'Sign in with Test ID' });
    await sso.waitFor();
    // The password form is still there, below.
    await page.getByLabel('Username').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, '40-sign-in-with-sso.png') });
    await sso.click();
    await page.waitForURL((u) => u.origin === provider.issuer);
    await page.locator('input[name="login"]').fill('sub-dana');
    await page.locator('input[name="password"]').fill('any-password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.waitForURL(`${up.url}/projects/web`);
    await page.getByRole('button', { name: 'Signed in as dana' }).waitFor();
    const cookie = (await ctx.cookies(up.url)).find((c) => c.name === 'gantry_session');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', 'the session cookie of a password sign-in');
    assert.deepEqual(await page.evaluate(() => [sessionStorage.getItem('gantry.token'), localStorage.getItem('gantry.token')]), [null, null]);
    // A developer of web by the mapping: the run form is there.
    await page.getByRole('button', { name: 'Run pipeline' }).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, '41-signed-in-with-sso.png') });
    const members = await up.api<{ items: { username: string; role: string; grantedBy: string }[] }>('GET', '/projects/web/members');
    assert.deepEqual(members.items, [{ ...members.items[0]!, username: 'dana', role: 'developer', grantedBy: 'sso' }]);
    await ctx.close();
  });
});
