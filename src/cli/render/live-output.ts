// What `gantry run` shows while a pipeline runs. Every output line is prefixed with its job's
// name; on a TTY a board of running jobs and counts stays pinned below the log and is redrawn
// as things change.

import pc from 'picocolors';
import { isFinishedJob, type JobStatus } from '../../domain/status.js';
import type { RunObserver } from '../../local/local-pipeline-run.js';
import type { Job, PipelineWithJobs } from '../../store/store.js';
import { displayLine, formatDuration, LineSplitter } from './terminal-text.js';
import { statusStyle } from './status-style.js';
import { isFailureAllowed } from '../../scheduler/readiness.js';
import { summaryLine, type TestsView, type ViewCase } from '../../domain/test-reports.js';
import { averageCoverage, latestCoverage } from '../../views/pipeline-json.js';

export interface LiveOutputOptions {
  out: NodeJS.WritableStream & { columns?: number };
  color: boolean;
  board: boolean;
  /** Job output is not shown (only state changes and the summary). */
  quiet: boolean;
  now?: () => number;
}

const PREFIX_COLORS = ['cyan', 'magenta', 'blue', 'yellow', 'green'] as const;

export class LiveOutput implements RunObserver {
  private readonly jobs = new Map<number, Job>();
  private readonly splitters = new Map<string, LineSplitter>();
  private readonly c: ReturnType<typeof pc.createColors>;
  private prefixWidth = 8;
  private boardLines = 0;
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private readonly now: () => number;

  constructor(private readonly o: LiveOutputOptions) {
    this.c = pc.createColors(o.color);
    this.now = o.now ?? Date.now;
  }

  pipelineCreated(p: PipelineWithJobs): void {
    this.startedAt = this.now();
    for (const j of p.jobs) this.jobs.set(j.id, j);
    this.prefixWidth = Math.min(28, Math.max(8, ...p.jobs.map((j) => j.name.length)));
    const sha = p.pipeline.sha.slice(0, 8);
    this.write(this.c.bold(`Pipeline #${p.pipeline.id}`) + ` on ${p.pipeline.ref} (${sha}): ${p.jobs.length} jobs\n`);
    if (this.o.board) this.timer = setInterval(() => this.drawBoard(), 100);
  }

  jobChanged(job: Job): void {
    this.jobs.set(job.id, job);
    if (job.status === 'created' || job.status === 'pending') return;
    const st = statusStyle(job.status, this.o.color);
    let text = `${st.paint(`${st.icon} ${job.status}`)}`;
    if (job.status === 'running' && job.attemptCount > 1) text = this.c.yellow(`↻ retrying (attempt ${job.attemptCount})`);
    if (isFinishedJob(job.status) && job.startedAt !== null && job.finishedAt !== null) text += ` in ${formatDuration(job.finishedAt - job.startedAt)}`;
    if (job.failureReason && job.status !== 'canceled') text += this.c.gray(` (${job.failureReason}${job.exitCode !== null ? `, exit code ${job.exitCode}` : ''})`);
    if (job.status === 'manual') text += this.c.gray(` (play it with --manual "${job.name}")`);
    if (job.status === 'scheduled' && job.scheduledAt !== null) {
      const wait = formatDuration(Math.max(0, job.scheduledAt - this.now()));
      text += this.c.gray(` waits ${wait} (start_in), until ${new Date(job.scheduledAt).toLocaleTimeString()}; run it now with --manual "${job.name}"`);
    }
    this.emitLines(job, [text], true);
  }

  output(job: Job, attempt: number, chunk: Buffer): void {
    if (this.o.quiet) return;
    const key = `${job.id}/${attempt}`;
    let sp = this.splitters.get(key);
    if (!sp) this.splitters.set(key, (sp = new LineSplitter()));
    const lines = sp.push(chunk);
    if (lines.length) this.emitLines(job, lines.map((l) => displayLine(l, this.o.color)), false);
  }

  notice(job: Job, message: string): void {
    this.emitLines(job, [this.c.red(message)], true);
  }

  /** Ends the live display: flushes partial lines, removes the board, prints the summary. */
  finish(p: PipelineWithJobs | null, tests: TestsView | null = null): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [key, sp] of this.splitters) {
      const job = this.jobs.get(Number(key.split('/')[0]));
      const rest = sp.flush();
      if (job && rest.length && !this.o.quiet) this.emitLines(job, rest.map((l) => displayLine(l, this.o.color)), false);
    }
    this.eraseBoard();
    if (p) this.write(summary(p, this.o.color));
    if (p && tests && tests.summary.total > 0) this.write(testSummary(tests, this.o.color));
  }

  private prefix(job: Job): string {
    const name = job.name.length > this.prefixWidth ? `${job.name.slice(0, this.prefixWidth - 1)}…` : job.name.padEnd(this.prefixWidth);
    const paint = this.c[PREFIX_COLORS[job.id % PREFIX_COLORS.length]!];
    return `${paint(name)} ${this.c.gray('│')} `;
  }

  private emitLines(job: Job, lines: string[], isStatus: boolean): void {
    const pre = this.prefix(job);
    let text = '';
    for (const l of lines) text += `${pre}${isStatus ? this.c.bold(l) : l}\n`;
    this.eraseBoard();
    this.write(text);
  }

  private write(s: string): void {
    this.o.out.write(s);
  }

  private eraseBoard(): void {
    if (this.boardLines === 0) return;
    this.o.out.write(`\x1b[${this.boardLines}A\r\x1b[J`);
    this.boardLines = 0;
  }

  private drawBoard(): void {
    this.eraseBoard();
    const now = this.now();
    const counts = new Map<JobStatus, number>();
    const running: Job[] = [];
    for (const j of this.jobs.values()) {
      counts.set(j.status, (counts.get(j.status) ?? 0) + 1);
      if (j.status === 'running') running.push(j);
    }
    const width = (this.o.out.columns ?? 100) - 1;
    const lines: string[] = [this.c.gray('─'.repeat(Math.min(width, 60)))];
    for (const j of running.slice(0, 8)) {
      const st = statusStyle('running', this.o.color);
      const attempt = j.attemptCount > 1 ? this.c.yellow(` attempt ${j.attemptCount}`) : '';
      lines.push(`${st.paint(st.icon)} ${j.name.padEnd(this.prefixWidth)} ${this.c.gray(formatDuration(now - (j.startedAt ?? now)))}${attempt}`.slice(0, width + 40));
    }
    if (running.length > 8) lines.push(this.c.gray(`  … and ${running.length - 8} more running`));
    const parts: string[] = [];
    for (const s of ['success', 'failed', 'timed_out', 'running', 'pending', 'created', 'manual', 'scheduled', 'skipped', 'canceled'] as JobStatus[]) {
      const n = counts.get(s);
      if (!n) continue;
      const st = statusStyle(s, this.o.color);
      parts.push(st.paint(`${st.icon} ${n} ${s === 'created' ? 'waiting' : s}`));
    }
    lines.push(`${parts.join('  ')}  ${this.c.gray(formatDuration(now - this.startedAt))}`);
    this.o.out.write(`${lines.join('\n')}\n`);
    this.boardLines = lines.length;
  }
}

/** Failing and flaky tests named at the end of `gantry run`, at most this many of each. */
const TESTS_NAMED = 10;

/** The pipeline's test reports in a few lines: the summary, then its failures and flaky tests by name. */
export function testSummary(t: TestsView, color: boolean): string {
  const c = pc.createColors(color);
  const s = t.summary;
  const bad = s.failed + s.error;
  const line = `Tests: ${summaryLine(s)}${s.durationMs > 0 ? ` in ${formatDuration(Math.round(s.durationMs))}` : ''}`;
  let out = `${bad > 0 ? c.red(line) : s.flaky > 0 ? c.yellow(line) : c.green(line)}\n`;
  const name = (x: ViewCase) => [x.suite, x.classname && x.classname !== x.suite ? x.classname : '', x.name].filter(Boolean).join(' › ');
  const failing = t.cases.filter((x) => x.status === 'failed' || x.status === 'error');
  for (const x of failing.slice(0, TESTS_NAMED)) {
    const msg = x.message ? `: ${x.message.split('\n', 1)[0]!.slice(0, 200)}` : '';
    out += `  ${c.red(`✗ ${x.status}`)} ${name(x)} ${c.gray(`(${x.jobName})`)}${c.gray(msg)}\n`;
  }
  if (failing.length > TESTS_NAMED) out += c.gray(`  … and ${failing.length - TESTS_NAMED} more failing\n`);
  const flaky = t.cases.filter((x) => x.flaky);
  for (const x of flaky.slice(0, TESTS_NAMED)) out += `  ${c.yellow('~ flaky')} ${name(x)} ${c.gray(`(${x.jobName}: failed, then passed on attempt ${x.attempt})`)}\n`;
  if (flaky.length > TESTS_NAMED) out += c.gray(`  … and ${flaky.length - TESTS_NAMED} more flaky\n`);
  return out;
}

export function summary(p: PipelineWithJobs, color: boolean): string {
  const c = pc.createColors(color);
  const coverages = p.jobs.map((j) => latestCoverage(p.attempts, j.id));
  const rows = p.jobs.map((j, i) => {
    const st = statusStyle(j.status, color);
    const dur = j.startedAt !== null && j.finishedAt !== null ? formatDuration(j.finishedAt - j.startedAt) : '';
    const cov = coverages[i];
    const extra = [cov !== null && cov !== undefined ? `coverage ${formatCoverage(cov)}` : '', j.attemptCount > 1 ? `${j.attemptCount} attempts` : '', j.failureReason && j.status !== 'success' ? j.failureReason : '', (j.status === 'failed' || j.status === 'timed_out') && isFailureAllowed(j.spec.allowFailure, j.exitCode) ? 'allowed to fail' : '']
      .filter(Boolean)
      .join(', ');
    return { st, j, dur, extra };
  });
  const nameW = Math.min(40, Math.max(4, ...p.jobs.map((j) => j.name.length)));
  const stageW = Math.max(5, ...p.jobs.map((j) => j.stage.length));
  let out = '\n';
  for (const r of rows) {
    out += `${r.st.paint(`${r.st.icon} ${r.j.status.padEnd(9)}`)} ${r.j.name.padEnd(nameW)}  ${c.gray(r.j.stage.padEnd(stageW))}  ${r.dur.padStart(7)}${r.extra ? c.gray(`  ${r.extra}`) : ''}\n`;
  }
  const pl = p.pipeline;
  const st = statusStyle(pl.status, color);
  const dur = pl.startedAt !== null && pl.finishedAt !== null ? ` in ${formatDuration(pl.finishedAt - pl.startedAt)}` : '';
  const cov = averageCoverage(coverages);
  out += `\n${c.bold(st.paint(`${st.icon} Pipeline #${pl.id} ${pl.status}`))}${dur}${cov === null ? '' : `, coverage ${formatCoverage(cov)}`}\n`;
  return out;
}

/** 85.2% as GitLab shows it: at most 2 decimals. */
export function formatCoverage(v: number): string {
  return `${Math.round(v * 100) / 100}%`;
}
