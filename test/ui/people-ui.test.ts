// People in the web UI, end to end: a real `gantry up`, a real browser, the first admin's printed
// password. Sign in with a username and password (a wrong one first), who is signed in, your
// personal access tokens (shown once, listed without the value, revoked), a project's members (added,
// changed, the last maintainer kept, a viewer who only reads), a 401 back to sign-in, every write
// carrying the CSRF token, sign-out ending the session on the server, and the sign-in limit.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { GantryUp, launchChromium, SCREENSHOTS, skipReason } from './ui-harness.js';

const skip = skipReason();

interface Write {
  method: string;
  url: string;
  csrf: string | undefined;
  authorization: string | undefined;
}

describe('people in the web UI', { skip, timeout: 90_000 }, () => {
  let up: GantryUp;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  /** Every write the pages of the password sign-ins sent to the API. */
  const writes: Write[] = [];
  const passwords = { bob: 'bob-password-123', carol: 'carol-password-12' };
  const shot = (p: Page, name: string) => p.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
  /** Statuses as the page's own fetch sees them (its cookies, no token). */
  const statusFromPage = (p: Page, url: string) => p.evaluate((u) => fetch(u).then((r) => r.status), url);
  const bearer = (token: string, p: string, method = 'GET') =>
    fetch(`${up.url}/api/v1${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{"ref":"main"}' });

  async function newContext(): Promise<BrowserContext> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    ctx.on('request', (r) => {
      if (!r.url().includes('/api/v1/') || ['GET', 'HEAD'].includes(r.method())) return;
      const h = r.headers();
      writes.push({ method: r.method(), url: r.url(), csrf: h['x-csrf-token'], authorization: h.authorization });
    });
    return ctx;
  }

  async function signIn(p: Page, username: string, password: string): Promise<void> {
    await p.getByLabel('Username').fill(username);
    await p.getByLabel('Password').fill(password);
    await p.getByRole('button', { name: 'Sign in' }).click();
  }

  before(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    // Four failed sign-ins from one address and the fifth is refused: the last test reaches it quickly.
    up = new GantryUp({ '.gantry.yml': 'hello:\n  script: [echo hi]\n' }, { GANTRY_SIGN_IN_MAX_FAILURES: '4' });
    await up.start();
    assert.ok(up.password, 'gantry up printed the first admin password');
    await up.api('POST', '/projects', { name: 'web', gitUrl: up.sb.repo });
    for (const [username, password] of Object.entries(passwords)) await up.api('POST', '/users', { username, password });
    browser = await launchChromium();
    admin = await newContext();
    page = await admin.newPage();
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    await up?.stop();
  });

  it("signs in with a username and password: a wrong password gets the server's words, the right one lands where the visitor was going, by cookie, with no token stored", async () => {
    await page.goto(`${up.url}/projects/web/settings/members`);
    await page.waitForURL(/\/login$/);
    await signIn(page, 'admin', 'not-the-password');
    // The same words for an unknown user: nothing says whether `admin` exists.
    await page.getByRole('alert').filter({ hasText: 'wrong username or password' }).waitFor();
    assert.equal(await page.getByLabel('Password').inputValue(), '');
    await shot(page, '30-sign-in-wrong-password');
    await signIn(page, 'admin', up.password);
    await page.waitForURL(/\/projects\/web\/settings\/members$/);
    assert.deepEqual(await page.evaluate(() => [sessionStorage.getItem('gantry.token'), localStorage.getItem('gantry.token')]), [null, null]);
    const cookie = (await admin.cookies()).find((c) => c.name === 'gantry_session');
    assert.ok(cookie?.httpOnly, 'an HttpOnly session cookie');
    assert.equal(await page.evaluate(() => document.cookie.includes('gantry_session')), false);
  });

  it('the header shows who is signed in, with a menu: your tokens, sign out', async () => {
    const who = page.getByRole('button', { name: 'Signed in as admin' });
    assert.match(await who.innerText(), /admin\s*admin/);
    assert.equal(await who.getAttribute('aria-expanded'), 'false');
    await who.click();
    const menu = page.locator('#user-menu-items');
    await menu.getByText('with a password').waitFor();
    await menu.getByRole('link', { name: 'Your tokens' }).waitFor();
    await menu.getByRole('button', { name: 'Sign out' }).waitFor();
    await shot(page, '31-user-menu');
    // Escape closes it and gives the focus back to its button.
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('user-button')), true);
  });

  it('makes a personal access token: its value shown once, then listed without it; revoked after a confirmation', async () => {
    await page.getByRole('button', { name: 'Signed in as admin' }).click();
    await page.getByRole('link', { name: 'Your tokens' }).click();
    await page.waitForURL(/\/account\/tokens$/);
    await page.getByText('No personal access tokens yet.').waitFor();
    const form = page.getByRole('form', { name: 'New personal access token' });
    await form.getByLabel('Description').fill('laptop');
    const expires = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    await form.getByLabel('Expires on').fill(expires);
    await form.getByLabel('Only these projects').fill('web');
    await form.getByLabel('Read-only').check();
    await form.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByTestId('new-personal-token').innerText()).trim();
    assert.match(token, /^gantry_personal_/);
    await page.getByText('it is not shown again').waitFor();
    const row = page.locator('table.personal-tokens tr', { hasText: 'laptop' });
    await row.locator('td[data-label="Projects"]', { hasText: 'web' }).waitFor();
    assert.equal(await row.locator('td[data-label="Access"]').innerText(), 'read-only');
    // The end of the chosen day, where the browser is.
    const expiresAt = Date.parse((await row.locator('td[data-label="Expires"] time').getAttribute('datetime')) ?? '');
    assert.ok(Math.abs(expiresAt - Date.parse(`${expires}T23:59:59Z`)) <= 14 * 3_600_000, `expires ${new Date(expiresAt).toISOString()}`);
    assert.equal(await row.locator('td[data-label="Last used"]').innerText(), 'never');
    await shot(page, '32-token-once');
    // It works as made: reads of its one project, nothing written.
    assert.deepEqual(((await (await bearer(token, '/projects')).json()) as { items: { name: string }[] }).items.map((p) => p.name), ['web']);
    assert.equal((await bearer(token, '/projects/web/pipelines', 'POST')).status, 403);
    // Gone from the page once done, and after a reload only its description and use are listed.
    await page.getByRole('button', { name: 'Done' }).click();
    await page.reload();
    await row.locator('td[data-label="Last used"]', { hasText: 'just now' }).waitFor();
    assert.ok(!(await page.content()).includes(token));
    // Revoked only once confirmed: the first press asks.
    await page.getByRole('button', { name: 'Revoke token laptop' }).click();
    const ask = page.getByRole('group', { name: 'Revoke token laptop' });
    await ask.getByText('What uses it stops working at once').waitFor();
    await ask.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Revoke token laptop' }).click();
    await page.getByRole('button', { name: 'Yes, revoke' }).click();
    await page.getByText('No personal access tokens yet.').waitFor();
    assert.equal((await bearer(token, '/projects')).status, 401);
  });

  it('members: adds people with a role and changes a role', async () => {
    await page.goto(`${up.url}/projects/web/settings/members`);
    await page.getByText('No members yet').waitFor();
    const form = page.getByRole('form', { name: 'Add a member' });
    for (const [username, role] of [
      ['bob', 'maintainer'],
      ['carol', 'developer'],
    ] as const) {
      await form.getByLabel('Username').fill(username);
      await form.getByLabel('Role').selectOption(role);
      await form.getByRole('button', { name: 'Add member' }).click();
      await page.locator(`table.members tr[data-member="${username}"]`).waitFor();
    }
    assert.equal(await page.getByLabel('Role of carol', { exact: true }).inputValue(), 'developer');
    await page.getByLabel('Role of carol', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Change the role of carol' }).click();
    // The list is read again: the change is the server's.
    await page.waitForFunction(() => (document.querySelector('tr[data-member="carol"] .role-edit button') as HTMLButtonElement | null)?.disabled === true);
    const members = await up.api<{ items: { username: string; role: string }[] }>('GET', '/projects/web/members');
    assert.deepEqual(
      members.items.map((m) => [m.username, m.role]),
      [
        ['bob', 'maintainer'],
        ['carol', 'viewer'],
      ],
    );
    // An unknown user: the server's words.
    await form.getByLabel('Username').fill('nobody');
    await form.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('alert').filter({ hasText: 'no user "nobody"' }).waitFor();
    await shot(page, '33-members');
  });

  it('a viewer sees the members and roles but no way to change them, nor the settings, nor buttons to run, cancel or retry pipelines', async () => {
    const ctx = await newContext();
    const carol = await ctx.newPage();
    await carol.goto(`${up.url}/login`);
    await signIn(carol, 'carol', passwords.carol);
    await carol.waitForURL(`${up.url}/`);
    await carol.goto(`${up.url}/projects/web/settings`);
    await carol.getByText('You are a viewer of this project').waitFor();
    assert.equal(await carol.locator('#variables').count(), 0);
    await carol.getByRole('link', { name: 'See who they are' }).click();
    await carol.locator('table.members tr[data-member="bob"]').waitFor();
    assert.deepEqual(await carol.locator('table.members td[data-label="Role"]').allInnerTexts(), ['maintainer', 'viewer']);
    assert.equal(await carol.getByRole('form', { name: 'Add a member' }).count(), 0);
    assert.equal(await carol.getByRole('button', { name: /^Remove/ }).count(), 0);
    assert.equal(await carol.locator('select').count(), 0);
    // The audit log is the maintainers': no tab for a viewer.
    assert.equal(await carol.getByRole('navigation', { name: 'Settings pages' }).getByRole('link', { name: 'Audit log' }).count(), 0);
    // Nor buttons to run, cancel or retry: a viewer reads pipelines, and the admin's sees them.
    const pipeline = await up.api<{ id: number }>('POST', '/projects/web/pipelines', { ref: 'main' });
    await carol.goto(`${up.url}/projects/web`);
    await carol.getByRole('heading', { name: 'web' }).waitFor();
    await carol.locator(`a[href="/pipelines/${pipeline.id}"]`).first().waitFor();
    assert.equal(await carol.getByRole('button', { name: 'Run pipeline' }).count(), 0);
    await carol.goto(`${up.url}/pipelines/${pipeline.id}`);
    await carol.locator('.dag-node').first().waitFor();
    assert.equal(await carol.locator('.dag-action').count(), 0);
    assert.equal(await carol.getByRole('button', { name: /Cancel pipeline|Retry failed jobs/ }).count(), 0);
    const adminPage = await admin.newPage();
    await adminPage.goto(`${up.url}/projects/web`);
    await adminPage.getByRole('button', { name: 'Run pipeline' }).waitFor();
    await adminPage.close();
    await ctx.close();
  });

  it('changes your own password: the current one is checked, the new one signs in, the old one no longer does', async () => {
    const ctx = await newContext();
    const carol = await ctx.newPage();
    carol.setDefaultTimeout(15_000);
    await carol.goto(`${up.url}/account/tokens`);
    await signIn(carol, 'carol', passwords.carol);
    const form = carol.getByRole('form', { name: 'Change your password' });
    await form.waitFor();
    const fill = async (current: string, next: string) => {
      await carol.getByLabel('Current password').fill(current);
      await carol.getByLabel('New password (12 characters or more)').fill(next);
      await carol.getByLabel('New password again').fill(next);
      await form.getByRole('button', { name: 'Change password' }).click();
    };
    await fill('not-her-password-at-all', 'carol-new-password-34');
    await form.getByText('body.currentPassword is wrong').waitFor();
    await fill(passwords.carol, 'carol-new-password-34');
    await form.getByText('Password changed.').waitFor();
    passwords.carol = 'carol-new-password-34';
    // This session goes on; a new sign-in takes only the new password.
    const fresh = await fetch(`${up.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-password-12' }) });
    assert.equal(fresh.status, 401);
    const good = await fetch(`${up.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: passwords.carol }) });
    assert.equal(good.status, 200);
    await carol.reload();
    await form.waitFor();
    await ctx.close();
  });

  it('a maintainer cannot demote the last maintainer, themself: the refusal in words; an admin can remove them; a 401 goes back to sign-in', async () => {
    const ctx = await newContext();
    const bob = await ctx.newPage();
    await bob.goto(`${up.url}/projects/web/settings/members`);
    await bob.waitForURL(/\/login$/);
    await signIn(bob, 'bob', passwords.bob);
    await bob.waitForURL(/\/settings\/members$/);
    await bob.locator('tr[data-member="bob"]', { hasText: '(you)' }).waitFor();
    await bob.getByLabel('Role of bob', { exact: true }).selectOption('developer');
    await bob.getByRole('button', { name: 'Change the role of bob' }).click();
    const refusal = bob.getByRole('alert').filter({ hasText: 'would leave project web without a maintainer: make someone else maintainer first' });
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /GANTRY_E_LAST_MAINTAINER/);
    assert.equal(await bob.getByLabel('Role of bob', { exact: true }).inputValue(), 'maintainer', 'the select shows the role bob still has');
    await shot(bob, '34-members-last-maintainer');
    // A maintainer removes someone else.
    await bob.getByRole('button', { name: 'Remove carol' }).click();
    await bob.getByRole('button', { name: 'Yes, remove' }).click();
    await bob.locator('tr[data-member="carol"]').waitFor({ state: 'detached' });

    // The admin may remove the last maintainer.
    await page.reload();
    await page.getByRole('button', { name: 'Remove bob' }).click();
    await page.getByRole('button', { name: 'Yes, remove' }).click();
    await page.getByText('No members yet').waitFor();

    // Bob disabled: his session ends on the server, and his next request's 401 takes him to sign-in.
    await up.api('PATCH', '/users/bob', { disabled: true });
    await bob.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Queue' }).click();
    await bob.waitForURL(/\/login$/);
    await bob.getByLabel('Username').waitFor();
    await ctx.close();
  });

  it("the audit log: a project's in its settings, a page at a time, with who, what and from where; the instance's for an admin, from the menu", async () => {
    // 30 more entries, for a second page (25 a page): variables set with the admin token.
    for (let i = 0; i < 30; i++) await up.api('PUT', `/projects/web/variables/V${i}`, { value: 'never-in-the-log' });
    await page.goto(`${up.url}/projects/web/settings`);
    await page.getByRole('navigation', { name: 'Settings pages' }).getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL(/\/projects\/web\/settings\/audit$/);
    const rows = page.locator('table.audit tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 25);
    // Newest first.
    const newest = rows.first();
    assert.deepEqual(
      [await newest.getAttribute('data-action'), await newest.locator('td[data-label="Target"]').innerText(), await newest.locator('td[data-label="Who"]').innerText()],
      ['variable.set', 'variable V29', 'admin token'],
    );
    assert.equal(await newest.locator('td[data-label="From"]').innerText(), '127.0.0.1');
    await page.getByRole('button', { name: 'Older →' }).click();
    // The second page: the rest of the variables, then the members' changes and the project made.
    const removedBob = page.locator('table.audit tr[data-action="member.remove"]', { hasText: 'member bob' });
    await removedBob.waitFor();
    assert.equal(await removedBob.locator('td[data-label="Who"]').innerText(), 'admin');
    assert.equal(await page.locator('table.audit tr[data-action="member.remove"]', { hasText: 'member carol' }).locator('td[data-label="Who"]').innerText(), 'bob');
    await page.locator('table.audit tr[data-action="member.set"]', { hasText: 'role: viewer' }).waitFor();
    assert.equal(await rows.count(), 11);
    assert.equal(await rows.last().getAttribute('data-action'), 'project.create');
    assert.equal(await page.getByRole('button', { name: 'Older →' }).count(), 0);
    assert.ok(!(await page.content()).includes('never-in-the-log'));
    await shot(page, '36-project-audit');
    await page.getByRole('button', { name: '← Newer' }).click();
    await page.locator('table.audit tr[data-action="variable.set"]', { hasText: 'variable V29' }).waitFor();

    // The instance's log: from the menu, for admins; bob's disabling is an entry of no project.
    await page.getByRole('button', { name: 'Signed in as admin' }).click();
    await page.locator('#user-menu-items').getByRole('link', { name: 'Instance audit log' }).click();
    await page.waitForURL(/\/admin\/audit$/);
    assert.equal(await page.locator('table.audit tr[data-action="variable.set"] td[data-label="Project"]').first().innerText(), 'web');
    // Past the 30 variables.
    await page.getByRole('button', { name: 'Older →' }).click();
    const disabled = page.locator('table.audit tr[data-action="user.update"]', { hasText: 'user bob' });
    await disabled.waitFor();
    assert.equal(await disabled.locator('td[data-label="Project"]').innerText(), 'instance');
    assert.match(await disabled.locator('td[data-label="Details"]').innerText(), /disabled: true/);
    await shot(page, '37-instance-audit');
  });

  it('every write the UI sent with a session carried its CSRF token, and no bearer token', () => {
    const apiWrites = writes.filter((w) => !(w.method === 'POST' && w.url.endsWith('/api/v1/session')));
    // Token made and revoked (the revoke after a reload: its token from GET /session), members added, changed, removed.
    assert.ok(apiWrites.length >= 7, `writes seen: ${JSON.stringify(apiWrites)}`);
    for (const w of apiWrites) {
      assert.ok(w.csrf && w.csrf.length > 10, `${w.method} ${w.url} carries X-CSRF-Token`);
      assert.equal(w.authorization, undefined, `${w.method} ${w.url} carries no bearer token`);
    }
  });

  it('signs out: back to sign-in, and the session cookie no longer works, even put back', async () => {
    await page.goto(`${up.url}/`);
    const cookie = (await admin.cookies()).find((c) => c.name === 'gantry_session')!;
    assert.equal(await statusFromPage(page, '/api/v1/session'), 200);
    await page.getByRole('button', { name: 'Signed in as admin' }).click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login$/);
    assert.equal(writes.at(-1)?.method, 'DELETE');
    assert.ok(writes.at(-1)?.csrf, 'sign-out carries the CSRF token too');
    assert.equal(await statusFromPage(page, '/api/v1/projects'), 401);
    // The server ended the session: the old cookie, put back, is refused.
    await admin.addCookies([cookie]);
    assert.equal(await statusFromPage(page, '/api/v1/projects'), 401);
    await page.goto(`${up.url}/queue`);
    await page.waitForURL(/\/login$/);
  });

  it('too many failed sign-ins: the page says when to try again', async () => {
    // Failed so far from this address: one (the first test's); the limit is four.
    const limited = page.getByRole('alert').filter({ hasText: 'Too many failed sign-ins' });
    for (let i = 0; i < 5 && !(await limited.isVisible()); i++) {
      await signIn(page, 'mallory', 'guessing-password');
      await page.getByRole('alert').filter({ hasText: /wrong username or password|Too many failed sign-ins/ }).waitFor();
    }
    await limited.waitFor();
    assert.match(await limited.innerText(), /Try again at \d{1,2}:\d{2}:\d{2}.*\(in \d+m \d{2}s\)/);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(up.password);
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).isDisabled(), true);
    await page.setViewportSize({ width: 390, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot(page, '35-sign-in-limited-narrow-dark');
  });
});
