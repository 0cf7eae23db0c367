// An agent's isolation in words: its limits, its last check. Pure, so the words are tested in Node
// (test/ui/log-rendering.test.ts) and the agents page stays a table.

import type { IsolationCheck, JobLimits } from '../api/types.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** 512 MiB, 1.5 GiB, 4 GiB: GiB from 1 GiB on, at most one decimal. */
export function memoryText(bytes: number): string {
  if (bytes >= GIB) return `${Number((bytes / GIB).toFixed(1))} GiB`;
  if (bytes >= MIB) return `${Number((bytes / MIB).toFixed(1))} MiB`;
  return `${bytes} bytes`;
}

/** "4 GiB memory · 512 processes · 2 CPUs", or "no limits". */
export function limitsText(l: JobLimits | undefined): string {
  if (!l) return 'no limits';
  const parts = [
    l.memoryBytes === null ? null : `${memoryText(l.memoryBytes)} memory`,
    l.pids === null ? null : `${l.pids} processes`,
    l.cpus === null ? null : `${l.cpus} ${l.cpus === 1 ? 'CPU' : 'CPUs'}`,
  ].filter((p): p is string => p !== null);
  return parts.length === 0 ? 'no limits' : parts.join(' · ');
}

/** "check passed", "check failed: 2 of 30 probes", "no check". */
export function checkText(c: IsolationCheck | null | undefined): string {
  if (!c) return 'no isolation check';
  if (c.passed) return 'check passed';
  const failed = c.probes.filter((p) => !p.ok).length;
  return failed === 0 ? 'check failed' : `check failed: ${failed} of ${c.probes.length} probes`;
}
