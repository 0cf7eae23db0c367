// Where the two cores went during a window: the servers, the agents, PostgreSQL, this process, and
// the rest (the jobs' shells and printers, the agents' launchers and sandboxes, other work on the
// machine), as shares of one core, from /proc.

import fs from 'node:fs';

const TICKS = 100;

function ticksOf(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function postgresTicks(): number {
  let t = 0;
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc');
  } catch {
    return NaN;
  }
  for (const d of pids) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres') t += ticksOf(Number(d));
    } catch {
      // Gone meanwhile.
    }
  }
  return t;
}

/** Busy ticks of the whole machine (all CPUs). */
function machineTicks(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
}

interface Sample {
  at: number;
  servers: number;
  agents: number;
  postgres: number;
  bench: number;
  machine: number;
}

export class CpuMeter {
  private last: Sample;

  constructor(
    private readonly servers: () => number[],
    private readonly agents: () => number[],
  ) {
    this.last = this.sample();
  }

  private sample(): Sample {
    const u = process.cpuUsage();
    return {
      at: performance.now(),
      servers: this.servers().reduce((s, p) => s + ticksOf(p), 0),
      agents: this.agents().reduce((s, p) => s + ticksOf(p), 0),
      postgres: postgresTicks(),
      bench: ((u.user + u.system) / 1e6) * TICKS,
      machine: machineTicks(),
    };
  }

  /** Since the last call: each part's share of one core. */
  lap(): string {
    const now = this.sample();
    const s = (now.at - this.last.at) / 1000;
    const before = this.last;
    this.last = now;
    const share = (k: keyof Sample) => (now[k] - before[k]) / TICKS / s;
    const known = share('servers') + share('agents') + share('postgres') + share('bench');
    const pc = (x: number) => `${(100 * x).toFixed(0)}%`;
    return `CPU (of one core): machine ${pc(share('machine'))} = servers ${pc(share('servers'))}, agents ${pc(share('agents'))}, PostgreSQL ${pc(share('postgres'))}, bench ${pc(share('bench'))}, rest (jobs, launchers, other work) ${pc(Math.max(0, share('machine') - known))}`;
  }
}
