// `gantry agent --check-isolation`, and the check every agent runs at start: hostile probes run
// exactly as a job runs (the same isolation object, launcher and view), each trying something
// docs/SECURITY.md forbids, and a table of what a job can and cannot reach. An agent whose check
// fails reports it, and the server gives it no untrusted work.

import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { NO_LIMITS, type IsolationCheck, type IsolationProbe, type JobLimits } from '../../domain/isolation.js';
import { ProcessLauncher } from '../launcher/launcher.js';
import { runScript } from '../process-group.js';
import { describeLimits, type Isolation } from '../isolation.js';
import { processesInRange, SLOT_USERS } from './slot-users.js';

/** The slots the probes run in, at once: the last ones, which jobs reach only past 124 running at once. */
const PROBE_SLOTS = { files: SLOT_USERS - 1, memory: SLOT_USERS - 2, pids: SLOT_USERS - 3 };
const PROBE_MEMORY = 32 << 20;
const PROBE_PIDS = 64;

export interface CheckTargets {
  agentHome: string;
  /** Files and directories of the agent and the server no job may read (homes, token files). */
  secretFiles: string[];
}

/** Tries each command; prints `@@ name allowed|denied bytes` (never what it read: the result goes to the server). */
const PROBE_LIB = `
probe() { local name=$1; shift; local out; if out=$("$@" 2>&1 </dev/null); then echo "@@ $name allowed $(printf %s "$out" | wc -c)"; else echo "@@ $name denied $(printf %s "$out" | head -c 100 | tr '\\n' ' ')"; fi; }
`;

const FILES_SCRIPT = `${PROBE_LIB}
# A directory counts as read when a file of it shows (the mount points leading to the job's own
# workspace are empty directories the sandbox makes, not the agent's).
while IFS= read -r f; do [ -n "$f" ] && probe "read:$f" sh -c 'if [ -d "$1" ]; then find "$1" -maxdepth 4 -path "$CI_PROJECT_DIR" -prune -o ! -type d -print | head -n 1 | grep -q .; else cat "$1"; fi' sh "$f"; done <<< "$PROBE_SECRET_FILES"
probe read-other-workspace cat "$PROBE_DECOY/secret.txt"
probe write-other-workspace sh -c 'echo x > "$PROBE_DECOY/planted"'
probe write-usr sh -c 'touch /usr/gantry-probe-$$ && rm -f /usr/gantry-probe-$$'
probe write-etc sh -c 'touch /etc/gantry-probe-$$ && rm -f /etc/gantry-probe-$$'
probe dotdot cat "$CI_PROJECT_DIR/../../../../../agent.json"
probe symlink sh -c 'ln -sfn "$PROBE_AGENT_HOME" "$CI_PROJECT_DIR/escape" && cat "$CI_PROJECT_DIR/escape/agent.json"'
probe write-own sh -c 'echo ok > "$CI_PROJECT_DIR/own" && echo ok > /tmp/own && cat "$CI_PROJECT_DIR/own" /tmp/own'
probe agent-proc sh -c 'cat /proc/$PROBE_AGENT_PID/cmdline | tr "\\0" "\\n" | grep -qF -- "$PROBE_AGENT_MARK"'
# The sandbox's own init (pid 1, bubblewrap) and Gantry's launcher (its child, /.gantry/node) are
# not other processes: Gantry's own, they run nothing of anyone else's.
# Builtins only: under isolation none this loop sees every process of the host.
others=0
for d in /proc/[0-9]*; do
  [ "$d" = /proc/1 ] && continue
  ppid=
  while read -r k v _; do [ "$k" = PPid: ] && { ppid=$v; break; }; done < "$d/status" 2>/dev/null
  if [ "$ppid" = 1 ] && IFS= read -r -d '' exe < "$d/cmdline" 2>/dev/null && [ "$exe" = /.gantry/node ]; then continue; fi
  u=
  while read -r k v _; do [ "$k" = Uid: ] && { u=$v; break; }; done < "$d/status" 2>/dev/null
  [ -n "$u" ] || continue
  [ "$u" = "$UID" ] || others=$((others+1))
done
echo "@@ foreign-processes count $others"
env | grep -c '^GANTRY_' | sed 's/^/@@ gantry-env count /'
probe tcp-loopback bash -c 'exec 3<>/dev/tcp/127.0.0.1/$PROBE_PORT'
setsid sh -c 'echo "@@ survivor $$"; exec sleep 300 >/dev/null 2>&1' </dev/null &
sleep 0.2
echo "@@ done"
`;

// Memory: 128 MiB held in a shell variable.
const MEMORY_SCRIPT = `x=$(head -c ${128 << 20} /dev/zero | tr '\\0' a); echo "@@ survived \${#x}"`;
// Processes: 200 sleepers at once (xargs gives up on a failed fork at once, where bash would retry
// for seconds), then a count with builtins only: at the limit, nothing can fork.
// Only the job's own processes count (its user's): in the sandbox, its init and launcher are Gantry's.
const PIDS_SCRIPT = `seq 200 | xargs -P 200 -n 1 sleep 2 2>/dev/null & sleep 0.5; n=0; for d in /proc/[0-9]*; do u=; while read -r k v _; do [ "$k" = Uid: ] && { u=$v; break; }; done < "$d/status" 2>/dev/null; [ "$u" = "$UID" ] && n=$((n+1)); done; echo "@@ processes $n"`;

interface StepOutcome {
  output: string;
  exitCode: number | null;
  oomKills: number;
  /** Processes of the probe's user left once its step ended. */
  leftBehind: number;
}

export async function checkIsolation(isolation: Isolation, t: CheckTargets): Promise<IsolationCheck> {
  const dir = path.join(t.agentHome, 'sandbox', 'check');
  fs.rmSync(dir, { recursive: true, force: true });
  const workspace = (slot: number) => path.join(dir, 'builds', String(slot), 'probe');
  const decoy = path.join(dir, 'builds', '0', 'other-project');
  fs.mkdirSync(decoy, { recursive: true });
  // Another project's workspace, as a job of it would leave it: readable by its owner and others.
  fs.writeFileSync(path.join(decoy, 'secret.txt'), crypto.randomBytes(16).toString('hex'), { mode: 0o644 });
  const listener = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  const launcher = new ProcessLauncher();
  const probes: IsolationProbe[] = [];
  try {
    const run = (slot: number, script: string, limits: JobLimits, network: 'full' | 'none', env: Record<string, string> = {}) =>
      runProbe(isolation, launcher, { dir, slot, workspace: workspace(slot), script, limits, network, env });

    const secretFiles = [...new Set([path.join(t.agentHome, 'agent.json'), ...t.secretFiles, ...serverFilesIn(t.secretFiles)])].filter((f) => fs.existsSync(f));
    const memoryLimits = { ...NO_LIMITS, memoryBytes: PROBE_MEMORY };
    // Three jobs at once, as on a busy agent; each in its own slot.
    const memoryRun = run(PROBE_SLOTS.memory, MEMORY_SCRIPT, memoryLimits, 'full');
    const pidsRun = run(PROBE_SLOTS.pids, PIDS_SCRIPT, { ...NO_LIMITS, pids: PROBE_PIDS }, 'full');
    const files = await run(PROBE_SLOTS.files, FILES_SCRIPT, NO_LIMITS, 'none', {
      PROBE_SECRET_FILES: secretFiles.join('\n'),
      PROBE_DECOY: decoy,
      PROBE_AGENT_HOME: t.agentHome,
      PROBE_AGENT_PID: String(process.pid),
      // The agent's own program path: in its command line, and in no job's.
      PROBE_AGENT_MARK: process.argv[1] ?? 'gantry',
      PROBE_PORT: String(port),
    });
    const said = parseProbeLines(files.output);
    for (const f of secretFiles) {
      probes.push(denied('files', `read ${f}`, said.get(`read:${f}`)));
    }
    probes.push(denied('files', "read another project's workspace", said.get('read-other-workspace')));
    probes.push(denied('files', "write another project's workspace", said.get('write-other-workspace')));
    probes.push(denied('files', 'write to /usr', said.get('write-usr')));
    probes.push(denied('files', 'write to /etc', said.get('write-etc')));
    probes.push(denied('files', "leave the workspace by ../ (to the agent's home)", said.get('dotdot')));
    probes.push(denied('files', "leave the workspace by a symlink (to the agent's home)", said.get('symlink')));
    const own = said.get('write-own');
    probes.push({ area: 'files', probe: 'write its own workspace and /tmp', expected: 'allowed', observed: own ?? 'no answer', ok: own?.startsWith('allowed') ?? false });
    probes.push(denied('processes', "read the agent's command line and environment in /proc", said.get('agent-proc')));
    const foreign = said.get('foreign-processes');
    probes.push({ area: 'processes', probe: 'see processes outside the job', expected: 'none', observed: foreign ? `${foreign.replace('count ', '')} visible` : 'no answer', ok: foreign === 'count 0' });
    probes.push({
      area: 'processes',
      probe: 'leave a process running after the job (setsid sleep)',
      expected: 'none left',
      observed: said.has('done') ? `${files.leftBehind} left` : 'the probe did not finish',
      ok: said.has('done') && files.leftBehind === 0,
    });
    const env = said.get('gantry-env');
    probes.push({ area: 'environment', probe: 'find GANTRY_ variables (tokens) in its environment', expected: 'none', observed: env ? `${env.replace('count ', '')} found` : 'no answer', ok: env === 'count 0' });
    probes.push(denied('network', `reach a port on 127.0.0.1 under network none`, said.get('tcp-loopback')));

    const memory = await memoryRun;
    const survived = memory.output.includes('@@ survived');
    probes.push({
      area: 'limits',
      probe: `use 128 MiB under a limit of ${describeLimits(memoryLimits).replace('memory ', '')}`,
      expected: 'killed by the OOM killer',
      observed: survived ? 'it got the memory' : memory.oomKills > 0 ? `killed (OOM kills: ${memory.oomKills}, exit ${memory.exitCode})` : `ended without an OOM kill (exit ${memory.exitCode})`,
      ok: !survived && memory.oomKills > 0,
    });
    const pids = await pidsRun;
    const seen = /@@ processes (\d+)/.exec(pids.output);
    const count = seen ? Number(seen[1]) : null;
    probes.push({
      area: 'limits',
      probe: `start 200 processes under a limit of ${PROBE_PIDS}`,
      expected: `at most ${PROBE_PIDS}`,
      observed: count === null ? `the probe did not report (exit ${pids.exitCode})` : `${count} running`,
      ok: count !== null && count <= PROBE_PIDS,
    });
  } finally {
    launcher.close();
    listener.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { passed: probes.every((p) => p.ok), checkedAt: new Date().toISOString(), probes };
}

/** The server's secrets under a home given as a directory (GANTRY_HOME): named, so each read is tried. */
function serverFilesIn(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    for (const name of ['gantry.db', 'admin.token', 'agent.token', 'secrets.key']) out.push(path.join(p, name));
  }
  return out;
}

/**
 * The probe user's processes once its step ended. What the step left is SIGKILLed when it ends, but
 * a killed process leaves /proc a moment later, so counting at once would see processes that are
 * already on their way out, and fail the check on a loaded host. One still there after 2 s
 * outlived the job.
 */
async function leftAfterStep(uid: number): Promise<number> {
  const until = Date.now() + 2_000;
  for (;;) {
    const left = processesInRange(uid, 1).length;
    if (left === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Under `none` the probe's survivor has a pid of this host: whether it outlived its job (then it is
 * killed here, the check must not leave it behind).
 */
function survivorLeft(output: string): number {
  const m = /^@@ survivor (\d+)$/m.exec(output);
  if (!m) return 0;
  const pid = Number(m[1]);
  try {
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep')) return 0;
    process.kill(pid, 'SIGKILL');
    return 1;
  } catch {
    return 0;
  }
}

function denied(area: IsolationProbe['area'], probe: string, said: string | undefined): IsolationProbe {
  return { area, probe, expected: 'denied', observed: said ?? 'no answer', ok: said?.startsWith('denied') ?? false };
}

function parseProbeLines(output: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of output.split('\n')) {
    const hit = /^@@ (\S+)(?: (.*))?$/.exec(line);
    if (hit) m.set(hit[1]!, (hit[2] ?? '').trim().slice(0, 200));
  }
  return m;
}

async function runProbe(
  isolation: Isolation,
  launcher: ProcessLauncher,
  p: { dir: string; slot: number; workspace: string; script: string; limits: JobLimits; network: 'full' | 'none'; env: Record<string, string> },
): Promise<StepOutcome> {
  fs.mkdirSync(p.workspace, { recursive: true });
  const job = isolation.forJob({ slot: p.slot, workspace: p.workspace, borrowedObjects: null, network: p.network, limits: p.limits, scriptDir: path.join(p.dir, 'scripts'), trusted: false });
  try {
    job.adoptWorkspace(p.workspace);
    const chunks: Buffer[] = [];
    const result = await runScript({
      script: p.script,
      spoolPath: path.join(p.dir, `probe-${p.slot}.spool`),
      cwd: p.workspace,
      env: { ...job.baseEnv, CI_PROJECT_DIR: p.workspace, ...p.env },
      onOutput: (c) => chunks.push(Buffer.from(c)),
      timeoutMs: 60_000,
      graceMs: 1_000,
      signal: new AbortController().signal,
      launcher,
      isolation: job,
    });
    const output = Buffer.concat(chunks).toString();
    return { output, exitCode: result.exitCode, oomKills: job.oomKills(), leftBehind: job.owner ? await leftAfterStep(job.owner.uid) : survivorLeft(output) };
  } finally {
    // The probes' slots run nothing else: their sandboxes end now, not after a minute idle.
    job.dispose({ last: true });
  }
}

/** The check as a table for a terminal. */
export function formatCheck(isolation: Isolation, c: IsolationCheck): string {
  const rows = c.probes.map((p) => [p.ok ? 'ok' : 'FAIL', p.area, p.probe, p.expected, p.observed]);
  const head = ['', 'area', 'what a job tried', 'must be', 'what happened'];
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (r: string[]) => r.map((cell, i) => cell.slice(0, widths[i]).padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [
    `isolation ${isolation.level}; a job's limits here: ${describeLimits(isolation.limits)}`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    c.passed ? `PASSED: ${c.probes.length} probes, every one as docs/SECURITY.md requires` : `FAILED: ${c.probes.filter((p) => !p.ok).length} of ${c.probes.length} probes reached what docs/SECURITY.md forbids`,
  ];
  return `${out.join('\n')}\n`;
}
