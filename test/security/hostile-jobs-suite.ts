// Hostile jobs against the sandbox, the way an attacker works: a real `gantry server` and one real
// sandboxed `gantry agent` of two slots on loopback, shared by two projects. The victim's job
// leaves a secret in its workspace and its cache and holds a masked variable while the attacker's
// jobs, beside it on the same agent, try what docs/SECURITY.md forbids; each attempt prints
// `ATTACK <name>: blocked` or `ATTACK <name>: SUCCEEDED <evidence>`. Run on each store
// (hostile-jobs-sqlite.test.ts, hostile-jobs-postgres.test.ts).
//
// The agent shows jobs the whole test directory read-only (`--sandbox-ro`), the server's and the
// agent's homes included, as an operator's careless `--sandbox-ro` would: the homes must stay
// hidden even then, not merely be out of sight in a private /tmp.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { defaultUidBase, processesInRange, SLOT_USERS } from '../../src/agent/sandbox/slot-users.js';
import { Fleet, type PipelineView, type Proc } from '../fleet/fleet-harness.js';
import { ROOT, sandbox, type Sandbox } from '../helpers/gantry.js';
import { sandboxUnavailable } from '../helpers/sandbox-host.js';

const script = (name: string) => fs.readFileSync(path.join(ROOT, 'test', 'security', name), 'utf8');
const MiB = 1 << 20;

const VICTIM_PIPELINE = `victim:
  cache: {key: victim-deps, paths: [vcache/]}
  script:
    - bash victim.sh
`;

const ATTACKER_PIPELINE = `stages: [probe, later]
files:
  stage: probe
  rules: [{if: '$ATTACK == "files"'}]
  script:
    - bash attack-files.sh
# The victim's cache by its key: a project's caches are its own.
steal-cache:
  stage: later
  rules: [{if: '$ATTACK == "files"'}]
  cache: {key: victim-deps, paths: [vcache/]}
  script:
    - |
      if [ -e vcache/secret ]; then echo "ATTACK restore the victim's cache by its key: SUCCEEDED $(head -c 64 vcache/secret)"; else echo "ATTACK restore the victim's cache by its key: blocked"; fi
    - mkdir -p vcache && echo POISON > vcache/secret && echo planted > vcache/planted
# Artifacts that are symlinks to secrets: the agent (root) must not follow them.
leak-absolute:
  stage: later
  rules: [{if: '$ATTACK == "files"'}]
  allow_failure: true
  script:
    - ln -s "$SERVER_HOME/admin.token" leak-admin-token
    - ln -s "$AGENT_HOME/agent.json" leak-identity
  artifacts: {paths: [leak-admin-token, leak-identity]}
leak-relative:
  stage: later
  rules: [{if: '$ATTACK == "files"'}]
  allow_failure: true
  script:
    - ln -s ../../../agent.json leak-identity
  artifacts: {paths: [leak-identity]}
leak-directory:
  stage: later
  rules: [{if: '$ATTACK == "files"'}]
  allow_failure: true
  script:
    - ln -s "$AGENT_HOME" leak-dir
  artifacts: {paths: [leak-dir/agent.json, leak-dir/]}
outlive:
  stage: probe
  rules: [{if: '$ATTACK == "outlive"'}]
  script:
    - setsid nohup sleep 600.17 >/dev/null 2>&1 &
    - ( ( sleep 600.27 >/dev/null 2>&1 & ) & )
    - setsid sh -c 'trap "" HUP TERM; exec sleep 600.37' >/dev/null 2>&1 &
    - sleep 0.3
    - |
      echo "ATTACK outlive: started $(grep -laF 600. /proc/[0-9]*/cmdline | wc -l) sleepers"
memory:
  stage: probe
  rules: [{if: '$ATTACK == "limits"'}]
  allow_failure: true
  script:
    - |
      x=$(head -c ${512 * MiB} /dev/zero | tr '\\0' a); echo "ATTACK allocate 512 MiB: SUCCEEDED held \${#x} bytes"
fork-bomb:
  stage: later
  rules: [{if: '$ATTACK == "limits"'}]
  script:
    # Waits with builtins only (read on a FIFO): at the limit, nothing can fork.
    - mkfifo /tmp/wait && exec 9<>/tmp/wait
    - timeout -s KILL 10 bash -c 'b() { b | b & }; b' &
    - read -t 4 -u 9 || true
    # The job's own processes (its user's): the sandbox's init and Gantry's launcher are not the job's.
    - |
      n=0; for d in /proc/[0-9]*; do u=; while read -r k v _; do [ "$k" = Uid: ] && { u=$v; break; }; done < "$d/status" 2>/dev/null; [ "$u" = "$UID" ] && n=$((n+1)); done
    - |
      if [ "$n" -le 64 ]; then echo "ATTACK fork bomb: blocked ($n processes)"; else echo "ATTACK fork bomb: SUCCEEDED $n processes"; fi
    - echo done > "$DONE"
`;

export function hostileJobsSuite(name: string, db: () => Promise<string | null>): void {
  describe(`hostile jobs on a sandboxed agent (${name})`, () => {
    const why = sandboxUnavailable();
    if (why) {
      if (process.env.CI === 'true') it('the sandbox is available (CI=true: the hostile jobs must run)', () => assert.fail(why));
      else {
        console.log(`# skipping hostile jobs (${name}): this host cannot run the sandbox:\n${why}`);
        it('hostile jobs on a sandboxed agent', { skip: 'this host cannot run the sandbox' }, () => undefined);
      }
      return;
    }

    let f: Fleet;
    let victimRepo: Sandbox;
    let agent: Proc & { home: string };
    const secrets = {
      VICTIM_TOKEN: crypto.randomBytes(16).toString('hex'),
      VICTIM_WS_SECRET: crypto.randomBytes(16).toString('hex'),
      VICTIM_CACHE_SECRET: crypto.randomBytes(16).toString('hex'),
    };
    const VICTIM_SOURCE = `victim's private source ${crypto.randomBytes(8).toString('hex')}\n`;

    before(async () => {
      f = new Fleet({ '.gantry.yml': ATTACKER_PIPELINE, 'attack-files.sh': script('attack-files.sh') }, await db(), 'sandbox');
      victimRepo = sandbox({ '.gantry.yml': VICTIM_PIPELINE, 'victim.sh': script('victim.sh'), 'private.txt': VICTIM_SOURCE });
      // Open to every user, as /srv or /opt are: the homes in it must be hidden, not merely unreadable.
      fs.chmodSync(f.sb.base, 0o755);
      await f.startServer();
      // Once its isolation check is done: its probes run as job users too, which the scans below count.
      agent = await f.startAgent({ concurrency: 2, name: 'shared-agent', args: ['--sandbox-ro', f.sb.base], waitForCheck: true });
      assert.equal((await f.api('POST', '/projects', { name: 'victim', gitUrl: victimRepo.repo })).status, 201);
      await f.project('attacker');
      for (const [k, v] of Object.entries(secrets)) assert.equal((await f.api('PUT', `/projects/victim/variables/${k}`, { value: v, masked: true })).status, 204);
      const limits = await f.api('PATCH', '/projects/attacker', { network: 'none', jobLimits: { memoryBytes: 64 * MiB, pids: 64, cpus: null } });
      assert.equal(limits.status, 200, JSON.stringify(limits.body));
      // The victim's cache, saved once before any attacker runs.
      const seed = await f.waitPipeline((await f.trigger('victim', { SERVER_PORT: String(f.port) })).id);
      assert.equal(seed.status, 'success', (await f.log(seed.jobs[0]!.id)).toString());
    });
    after(async () => {
      await f?.teardown();
      victimRepo?.cleanup();
    });

    /** What the attacker's pipeline is told: where everything is on the host (never the tokens in clear). */
    const attackerVars = (attack: string, done: string): Record<string, string> => ({
      ATTACK: attack,
      SERVER_HOME: f.sb.home,
      AGENT_HOME: agent.home,
      TOKENS_B64: Buffer.from(`${f.agentToken}\n${f.adminToken}\n`).toString('base64'),
      SERVER_PORT: String(f.port),
      AGENT_PID: String(agent.child.pid),
      DONE: done,
    });

    /** Starts the victim's job, waiting until it runs and holds its secrets; it ends once `done` is written. */
    async function victimBeside(done: string): Promise<PipelineView> {
      const ready = f.sharedFile(`victim-ready-${crypto.randomBytes(4).toString('hex')}`);
      const p = await f.trigger('victim', { SERVER_PORT: String(f.port), READY: ready, WAIT_FOR: done });
      for (const end = Date.now() + 20_000; fs.readFileSync(ready, 'utf8') === ''; await new Promise((r) => setTimeout(r, 50))) {
        const now = await f.pipeline(p.id);
        if (Date.now() > end || now.status !== 'running' && now.status !== 'pending') throw new Error(`the victim never got ready: ${JSON.stringify(now)}\n${(await f.log(now.jobs[0]!.id)).toString()}`);
      }
      return p;
    }

    /** The ATTACK lines of a log: the test fails on any SUCCEEDED, and on any expected attempt that did not say blocked. */
    function attacks(log: string, expected: RegExp[]): string[] {
      const lines = log.split('\n').filter((l) => l.startsWith('ATTACK '));
      const succeeded = lines.filter((l) => /: SUCCEEDED/.test(l));
      assert.deepEqual(succeeded, [], `attacks that succeeded:\n${succeeded.join('\n')}`);
      for (const e of expected) assert.ok(lines.some((l) => e.test(l) && /: blocked/.test(l)), `no "blocked" from the attempt ${e} in:\n${log}`);
      return lines;
    }

    async function victimSucceeded(p: PipelineView): Promise<string> {
      const done = await f.waitPipeline(p.id, undefined, 40_000);
      const log = (await f.log(done.jobs[0]!.id)).toString();
      assert.equal(done.status, 'success', log);
      assert.match(log, /VICTIM: untouched/);
      assert.match(log, /CONTROL network full: reached the server/);
      return log;
    }

    it("a hostile job cannot read the server's tokens, the agent's identity, the registration token or another project's workspace and cache, nor leave its workspace by symlinks or ..; the other project's job on the same agent succeeds untouched", async (t) => {
      // The paths the attacker aims at exist on the host: a blocked attempt is the sandbox's doing.
      for (const p of ['admin.token', 'agent.token', 'secrets.key', 'blobs']) assert.ok(fs.existsSync(path.join(f.sb.home, p)), p);
      for (const p of ['agent.json', 'builds', 'mirrors']) assert.ok(fs.existsSync(path.join(agent.home, p)), p);
      const done = f.sharedFile('attacker-done-files');
      const victim = await victimBeside(done);
      const attacker = await f.trigger('attacker', attackerVars('files', done));
      const victimLog = await victimSucceeded(victim);
      assert.match(victimLog, /VICTIM: cache restored/);
      const finished = await f.waitPipeline(attacker.id, undefined, 40_000);
      const jobs = new Map(finished.jobs.map((j) => [j.name, j]));
      const filesLog = (await f.log(jobs.get('files')!.id)).toString();
      assert.equal(jobs.get('files')!.status, 'success', filesLog);
      const lines = attacks(filesLog, [
        /server-home admin\.token/,
        /server-home agent\.token/,
        /server-home secrets\.key/,
        /server-home gantry\.db/,
        /server-home blobs/,
        /agent identity/,
        /agent builds/,
        /agent mirrors and snapshots/,
        /agent sandbox files/,
        /tokens in \/proc/,
        /GANTRY_ variables/,
        /see processes of other users/,
        /see the victim's or the agent's processes/,
        /read the agent's \/proc/,
        /read the victim's workspace/,
        /write the victim's workspace/,
        /find the victim's workspace/,
        /symlink in the workspace to the agent's home/,
        /symlink in the workspace to \//,
        /\.\.\/ from the workspace/,
        /through \/proc\/1\/root/,
        /reach the server on 127\.0\.0\.1:\d+ under network none/,
        /hold a capability/,
        /read Gantry's launcher directory/,
        /reach Gantry's launcher/,
      ]);
      assert.equal(lines.length, 25, lines.join('\n'));
      for (const l of lines) t.diagnostic(l);
      const cacheLog = (await f.log(jobs.get('steal-cache')!.id)).toString();
      attacks(cacheLog, [/restore the victim's cache by its key/]);

      // Artifacts that are symlinks to secrets: whatever was uploaded holds no secret.
      const identity = JSON.parse(fs.readFileSync(path.join(agent.home, 'agent.json'), 'utf8')) as { servers: Record<string, { token: string }> };
      const forbidden = [f.adminToken, f.agentToken, ...Object.values(identity.servers).map((s) => s.token), ...Object.values(secrets)];
      for (const job of ['leak-absolute', 'leak-relative', 'leak-directory']) {
        const j = jobs.get(job)!;
        const list = await f.api<{ items: { attempt: number }[] }>('GET', `/jobs/${j.id}/artifacts`);
        const refusal = /(?:GANTRY_E_ARTIFACT_PATH|leads outside|absolute path)[^\n\x1b]*/.exec((await f.log(j.id)).toString());
        t.diagnostic(`${job}: ${j.status}, ${list.body.items?.length ?? 0} archive(s) uploaded${refusal ? `; ${refusal[0].slice(0, 160)}` : ''}`);
        for (const a of list.body.items ?? []) {
          const res = await fetch(`${f.url}/api/v1/jobs/${j.id}/artifacts/${a.attempt}`, { headers: { authorization: `Bearer ${f.adminToken}` } });
          const tar = gunzipSync(Buffer.from(await res.arrayBuffer())).toString('latin1');
          for (const s of forbidden) assert.ok(!tar.includes(s), `${job}'s artifacts hold a secret`);
        }
      }
      // Nothing secret in any of the attacker's logs, in any form it might have printed.
      const secretKey = fs.readFileSync(path.join(f.sb.home, 'secrets.key'));
      for (const j of finished.jobs) {
        const log = (await f.log(j.id)).toString();
        for (const s of [...forbidden, secretKey.toString('hex').slice(0, 32), secretKey.toString('base64').slice(0, 32), VICTIM_SOURCE.trim()]) {
          assert.ok(!log.includes(s), `${j.name}'s log holds a secret`);
        }
      }

      // The victim's next run restores its own cache, not what the attacker saved under the same key.
      const next = await f.waitPipeline((await f.trigger('victim', { SERVER_PORT: String(f.port) })).id);
      assert.equal(next.status, 'success', (await f.log(next.jobs[0]!.id)).toString());
    });

    it('a hostile job cannot outlive its job: setsid, nohup and a double fork all die with it', async () => {
      const p = await f.waitPipeline((await f.trigger('attacker', attackerVars('outlive', f.sharedFile('unused')))).id);
      const log = (await f.log(p.jobs[0]!.id)).toString();
      assert.equal(p.status, 'success', log);
      // The attempt really started its sleepers (and saw them, with its own grep, in its own /proc).
      assert.match(log, /ATTACK outlive: started [3-9] sleepers/);
      // The agent ends the job's processes before it reports the job finished.
      const base = defaultUidBase(agent.home);
      assert.deepEqual(processesInRange(base, SLOT_USERS), [], `processes with a job user's uid (${base}-${base + SLOT_USERS - 1}) outlived the job`);
      const sleepers = fs
        .readdirSync('/proc')
        .filter((e) => /^\d+$/.test(e))
        .filter((pid) => {
          try {
            return /^sleep\x00600\.[123]7/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
          } catch {
            return false;
          }
        });
      assert.deepEqual(sleepers, [], 'a sleep 600.x of the job still runs');
    });

    it("a hostile job's memory and fork bomb stay within its project's limits (out_of_memory; the bomb contained) while the other project's job on the same agent succeeds and the agent runs on", async () => {
      const done = f.sharedFile('attacker-done-limits');
      const victim = await victimBeside(done);
      const attacker = await f.trigger('attacker', attackerVars('limits', done));
      await victimSucceeded(victim);
      const finished = await f.waitPipeline(attacker.id, undefined, 40_000);
      const jobs = new Map(finished.jobs.map((j) => [j.name, j]));
      const memory = jobs.get('memory')!;
      const memoryLog = (await f.log(memory.id)).toString();
      assert.equal(memory.status, 'failed', memoryLog);
      assert.equal(memory.failureReason, 'out_of_memory', memoryLog);
      attacks(memoryLog, []);
      // The log header names the job's isolation, its network and its project's limits.
      assert.match(memoryLog, /isolation sandbox \(user gantry-[01]\), network none \(loopback only\), memory 64 MiB, 64 processes/);
      const bomb = jobs.get('fork-bomb')!;
      const bombLog = (await f.log(bomb.id)).toString();
      assert.equal(bomb.status, 'success', bombLog);
      attacks(bombLog, [/fork bomb/]);
      // The agent lives on and takes the next job.
      assert.equal(agent.child.exitCode, null, agent.output());
      const later = await f.waitPipeline((await f.trigger('victim', { SERVER_PORT: String(f.port) })).id);
      assert.equal(later.status, 'success', (await f.log(later.jobs[0]!.id)).toString());
    });

    it('GET /agents shows the shared agent sandboxed, sandbox-ready, with its isolation check and each probe', async () => {
      type AgentJson = { name: string; isolation: string; sandboxReady: boolean; limits: Record<string, number | null>; isolationCheck: { passed: boolean; probes: { probe: string; ok: boolean }[] } | null };
      const items = (await f.api<{ items: AgentJson[] }>('GET', '/agents')).body.items;
      const a = items.find((x) => x.name === 'shared-agent')!;
      assert.equal(a.isolation, 'sandbox');
      assert.equal(a.sandboxReady, true, `${JSON.stringify(a.isolationCheck, null, 1)}\n${agent.output()}`);
      assert.equal(a.isolationCheck?.passed, true);
      assert.ok(a.isolationCheck!.probes.length >= 16, JSON.stringify(a.isolationCheck));
      assert.ok(a.isolationCheck!.probes.every((p) => p.ok));
      assert.ok(a.isolationCheck!.probes.some((p) => p.probe === `read ${agent.home}`), "the check tried the agent's home");
      assert.equal(a.limits.pids, 4096);
    });
  });
}
