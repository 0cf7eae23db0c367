// Job limits in words, the same for the CLI (`gantry project show`) and the web UI (the agents page).

import type { JobLimits } from '../domain/isolation.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** 512 MiB, 1.5 GiB, 4 GiB: GiB from 1 GiB on, at most one decimal. */
export function memoryText(bytes: number): string {
  if (bytes >= GIB) return `${Number((bytes / GIB).toFixed(1))} GiB`;
  if (bytes >= MIB) return `${Number((bytes / MIB).toFixed(1))} MiB`;
  return `${bytes} bytes`;
}

/** "4 GiB memory · 512 processes · 2 CPUs", or `none` when no field is set. */
export function limitsText(l: JobLimits | undefined, none = 'no limits'): string {
  if (!l) return none;
  const parts = [
    l.memoryBytes === null ? null : `${memoryText(l.memoryBytes)} memory`,
    l.pids === null ? null : `${l.pids} processes`,
    l.cpus === null ? null : `${l.cpus} ${l.cpus === 1 ? 'CPU' : 'CPUs'}`,
  ].filter((p): p is string => p !== null);
  return parts.length === 0 ? none : parts.join(' · ');
}
