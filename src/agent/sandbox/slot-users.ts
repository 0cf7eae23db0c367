// The users jobs run as: one uid (and a group of its own) per job slot, owning nothing of the
// agent's. A job's workspace, /tmp and home are chowned to its slot's user; everything else it
// sees belongs to other users and is read-only to it. Inside the sandbox's user namespace only that
// uid is mapped, so the job holds no capability over anything on the host.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { procStatOf } from '../process-identity.js';

/** Slots an agent may use (64 of --concurrency, and as many again for jobs that outlive a slot). */
export const SLOT_USERS = 128;
const FIRST = 2_000_000_000;
const RANGES = 100_000;

export interface SlotUser {
  slot: number;
  uid: number;
  gid: number;
  name: string;
}

/**
 * The first uid of an agent's range: fixed per agent home, so that two agents on one host get
 * different users without being told (a range of 1 000 from 2 000 000 000, below 2^31 for tools
 * that read uids as signed), or the operator's `--sandbox-uid-base`.
 */
export function defaultUidBase(agentHome: string): number {
  const h = crypto.createHash('sha256').update(path.resolve(agentHome)).digest().readUInt32BE(0);
  return FIRST + (h % RANGES) * 1_000;
}

export function slotUser(base: number, slot: number): SlotUser {
  if (slot < 0 || slot >= SLOT_USERS) throw new Error(`job slot ${slot} is outside the agent's ${SLOT_USERS} sandbox users`);
  return { slot, uid: base + slot, gid: base + slot, name: `gantry-${slot}` };
}

/** Who already uses a uid of the range: an account, a subordinate-id range, or a running process. */
export function usersOfRange(base: number): string[] {
  const end = base + SLOT_USERS;
  const inRange = (n: number) => n >= base && n < end;
  const found: string[] = [];
  for (const file of ['/etc/passwd', '/etc/group']) {
    for (const line of readLines(file)) {
      const f = line.split(':');
      if (f[2] !== undefined && inRange(Number(f[2]))) found.push(`${file}: ${f[0]} has id ${f[2]}`);
    }
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    for (const line of readLines(file)) {
      const [owner, start, count] = line.split(':');
      const s = Number(start);
      const c = Number(count);
      if (Number.isFinite(s) && Number.isFinite(c) && s < end && s + c > base) found.push(`${file}: ${owner}'s subordinate ids ${s}-${s + c - 1}`);
    }
  }
  return found;
}

/**
 * Processes running with a uid of the range (a job of another agent, or of a crashed one of ours).
 * Zombies do not count: an exited bubblewrap waits there for an init that reaps slowly.
 */
export function processesInRange(base: number, count = SLOT_USERS): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return pids;
  }
  for (const pid of entries) {
    try {
      const st = fs.statSync(`/proc/${pid}`);
      if (st.uid < base || st.uid >= base + count) continue;
      const state = procStatOf(Number(pid))?.[0];
      if (state !== undefined && state !== 'Z') pids.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  } catch {
    return [];
  }
}

/**
 * The /etc/passwd and /etc/group jobs see: the host's, with the slot users added, so that `id`,
 * `whoami`, ssh and git find a name and a home for the job's uid. Written once at start (0644).
 */
export function writeAccountFiles(dir: string, base: number, home: string): { passwd: string; group: string } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const users = Array.from({ length: SLOT_USERS }, (_, i) => slotUser(base, i));
  const passwd = path.join(dir, 'passwd');
  const group = path.join(dir, 'group');
  const hostPasswd = readLines('/etc/passwd').join('\n');
  const hostGroup = readLines('/etc/group').join('\n');
  fs.writeFileSync(passwd, `${hostPasswd}\n${users.map((u) => `${u.name}:x:${u.uid}:${u.gid}:Gantry job slot ${u.slot}:${home}:/bin/bash`).join('\n')}\n`, { mode: 0o644 });
  fs.writeFileSync(group, `${hostGroup}\n${users.map((u) => `${u.name}:x:${u.gid}:`).join('\n')}\n`, { mode: 0o644 });
  return { passwd, group };
}
