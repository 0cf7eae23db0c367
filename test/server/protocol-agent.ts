// An agent of a test's own, over the agent protocol (PROTOCOL.md): registers on first use, takes
// offers, starts and completes attempts, and makes any other call an attempt may make. For server
// tests that need jobs to run on the server's clock without a real `gantry agent` process.

import assert from 'node:assert/strict';

export interface Offer {
  attemptId: number;
  attemptToken: string;
  jobName: string;
  /** The offer's job spec, as sent (artifacts, coverage, ...). */
  spec: Record<string, unknown>;
  /** The offer's variables, as sent (pipeline, file, trigger, dotenv, masked). */
  variables: Record<string, unknown>;
}

export interface AgentCallOptions {
  json?: unknown;
  bytes?: Buffer;
  attemptToken?: string;
  headers?: Record<string, string>;
}

export class ProtocolAgent {
  private identity: { token: string; session: string } | null = null;

  /** `registrationToken`: the server's agent token (a harness's `agent`). */
  constructor(
    private readonly url: string,
    private readonly registrationToken: string,
    private readonly slots = 1,
  ) {}

  async call(method: string, p: string, opts: AgentCallOptions = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.identity ? this.identity.token : this.registrationToken}`, ...opts.headers };
    if (this.identity) headers['gantry-session'] = this.identity.session;
    if (opts.attemptToken) headers['gantry-attempt-token'] = opts.attemptToken;
    if (opts.json !== undefined) headers['content-type'] = 'application/json';
    if (opts.bytes) headers['content-type'] ??= 'application/octet-stream';
    const res = await fetch(`${this.url}/api/v1/agent${p}`, { method, headers, body: opts.json !== undefined ? JSON.stringify(opts.json) : (opts.bytes as unknown as BodyInit) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  private async register(): Promise<void> {
    if (this.identity) return;
    const facts = { name: 'probe', tags: [], concurrency: this.slots, version: 'test', protocol: 1 };
    const reg = await this.call('POST', '/register', { json: facts });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    this.identity = { token: reg.body.token as string, session: '' };
    const s = await this.call('POST', '/sessions', { json: facts });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    this.identity.session = s.body.sessionId as string;
  }

  /** Polls until `n` offers have come (at most about 12 s), and starts each. */
  async take(n: number): Promise<Offer[]> {
    await this.register();
    const offers: Offer[] = [];
    for (let i = 0; i < 40 && offers.length < n; i++) {
      const poll = await this.call('POST', '/jobs/request', { json: { slots: n - offers.length, waitMs: 300 } });
      for (const o of (poll.body.offers as Array<{ attemptId: number; attemptToken: string; job: { name: string }; spec: Record<string, unknown>; variables: Record<string, unknown> }> | undefined) ?? []) {
        offers.push({ attemptId: o.attemptId, attemptToken: o.attemptToken, jobName: o.job.name, spec: o.spec, variables: o.variables });
      }
    }
    assert.equal(offers.length, n, `offers: ${offers.map((o) => o.jobName).join(', ')}`);
    for (const o of offers) assert.equal((await this.call('POST', `/attempts/${o.attemptId}/start`, { json: {}, attemptToken: o.attemptToken })).status, 200);
    return offers;
  }

  /** Completes a started attempt; `extra` joins the body (logEnd, coverage). */
  async finish(o: Offer, status: 'success' | 'failed', extra: Record<string, unknown> = {}): Promise<void> {
    const done = await this.call('POST', `/attempts/${o.attemptId}/complete`, {
      json: { status, exitCode: status === 'success' ? 0 : 1, failureReason: status === 'success' ? null : 'script_failure', logEnd: 0, ...extra },
      attemptToken: o.attemptToken,
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
  }
}
