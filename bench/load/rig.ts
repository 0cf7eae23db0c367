// The load test's fleet: two `gantry server` processes on one PostgreSQL schema and one home (the
// secrets key that seals webhook secrets, the log objects), 50 `gantry agent` processes, half on
// each. The overload protection is as shipped: what it sheds is what the test measures.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitOutput } from '../fleet.js';
import { GANTRY } from '../util.js';

export interface LoadRig {
  /** The two instances' base URLs; a client picks one as a load balancer would. */
  urls: [string, string];
  adminToken: string;
  agentToken: string;
  servers: ChildProcess[];
  agents: ChildProcess[];
  /** Processes that exited while the test ran (a crash is a finding). */
  exits: string[];
}

const START_MS = 60_000;
/** The agents' niceness (their jobs inherit it). */
export const AGENT_NICE = 10;

async function startServer(db: string, home: string, rig: LoadRig, name: string): Promise<string> {
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    // GANTRY_LOAD_CPU_PROFILE=DIR: each server writes a V8 CPU profile there when it stops (for
    // finding where a server's time goes under load; not part of a measured run).
    const profile = process.env.GANTRY_LOAD_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.GANTRY_LOAD_CPU_PROFILE}`] : [];
    const p = spawn(process.execPath, [...profile, GANTRY, 'server', '--listen', `127.0.0.1:${port}`, '--db', db], {
      env: { ...process.env, GANTRY_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    rig.servers.push(p);
    try {
      await waitOutput(p, /gantry server ready at/, START_MS);
      watchExit(p, name, rig);
      return `http://127.0.0.1:${port}`;
    } catch (e) {
      // Another process on the shared machine can take the port between choosing and listening.
      p.kill('SIGKILL');
      if (tries >= 3) throw e;
    }
  }
}

function watchExit(p: ChildProcess, name: string, rig: LoadRig): void {
  p.once('exit', (code, signal) => {
    if (!stopping.has(rig)) rig.exits.push(`${name} exited (${code ?? signal})`);
  });
}

const stopping = new WeakSet<LoadRig>();

export async function startRig(db: string, home: string, agents: number): Promise<LoadRig> {
  const rig: LoadRig = { urls: ['', ''], adminToken: '', agentToken: '', servers: [], agents: [], exits: [] };
  try {
    // One after the other: the first makes the schema and the first tokens, the second finds them.
    rig.urls[0] = await startServer(db, home, rig, 'server A');
    rig.urls[1] = await startServer(db, home, rig, 'server B');
    rig.adminToken = fs.readFileSync(path.join(home, 'admin.token'), 'utf8').trim();
    rig.agentToken = fs.readFileSync(path.join(home, 'agent.token'), 'utf8').trim();
    // Five at a time: 50 Node processes starting at once would take the two cores for a minute.
    for (let i = 0; i < agents; i += 5) {
      await Promise.all(
        Array.from({ length: Math.min(5, agents - i) }, async (_, k) => {
          const n = i + k;
          const a = spawn(process.execPath, [GANTRY, 'agent', '--server', rig.urls[n % 2]!, '--token', rig.agentToken, '--name', `load-${n}`], {
            env: { ...process.env, GANTRY_HOME: home, GANTRY_AGENT_HOME: path.join(home, `agent-${n}`) },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          rig.agents.push(a);
          // In a fleet the agents and their jobs run on machines of their own; here they share two
          // cores with the control plane, 50 processes and their jobs against two servers. At
          // nice 10 they take what the servers and PostgreSQL leave, as other machines would,
          // instead of starving the control plane by their number (docs/BENCHMARKS.md).
          if (a.pid !== undefined) os.setPriority(a.pid, AGENT_NICE);
          await waitOutput(a, /connected to/, START_MS);
          watchExit(a, `agent load-${n}`, rig);
        }),
      );
    }
    return rig;
  } catch (e) {
    await stopRig(rig);
    throw e;
  }
}

export async function stopRig(rig: LoadRig): Promise<void> {
  stopping.add(rig);
  const stop = (p: ChildProcess, signal: NodeJS.Signals) =>
    new Promise<void>((res) => {
      if (p.exitCode !== null || p.signalCode !== null) return res();
      p.once('exit', () => res());
      p.kill(signal);
    });
  await Promise.all(rig.agents.map((p) => stop(p, 'SIGKILL')));
  // A profiled server must exit by itself to write its profile (SIGKILL after 30 s all the same).
  const signal = process.env.GANTRY_LOAD_CPU_PROFILE ? 'SIGTERM' : 'SIGKILL';
  await Promise.all(
    rig.servers.map(async (p) => {
      const killer = setTimeout(() => p.kill('SIGKILL'), 30_000);
      await stop(p, signal);
      clearTimeout(killer);
    }),
  );
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/**
 * One API call as a well-behaved client makes it: a 429 or 503 is tried again after its
 * Retry-After (the test's own calls must not fail because the server is shedding).
 */
export async function patientApi<T>(url: string, token: string, method: string, p: string, body?: unknown, deadline = Date.now() + 120_000): Promise<ApiAnswer<T>> {
  for (;;) {
    const res = await fetch(`${url}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    if ((res.status === 429 || res.status === 503) && Date.now() < deadline) {
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
      continue;
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: the raw text is the body.
    }
    return { status: res.status, body: parsed as T };
  }
}
