// Test reports (`artifacts:reports:junit`, docs/PIPELINE.md "Test reports"): what one attempt's
// JUnit files say, bounded, and what a pipeline's attempts say together: the latest attempt of
// each job counts, and a test that failed in an earlier attempt of its job and passed in a later
// one is flaky. Shared by the agent (which parses the files), the store, the API and `gantry run`.

/** GitLab's words for a case's result (its test report API). */
export const TEST_STATUSES = ['failed', 'error', 'passed', 'skipped'] as const;
export type TestStatus = (typeof TEST_STATUSES)[number];

/**
 * Bounds on what one attempt may report: a hostile job writes these files. The parser applies
 * them as it reads (nothing past them is kept in memory); the server checks them again.
 */
export const TEST_REPORT_LIMITS = {
  /** Report files per job (after the globs are expanded); more are named in a warning and skipped. */
  files: 100,
  /** Bytes of one file; a larger one is skipped with a warning (streamed, so memory stays small). */
  fileBytes: 64 * 1024 * 1024,
  /** Cases listed per attempt; more are counted in the summary but not listed (`unlisted`). */
  cases: 50_000,
  /** Characters of a suite, class, name or file; longer ones are cut. */
  name: 1_000,
  /** Characters of a failure's message. */
  message: 8 * 1024,
  /** Characters of a case's output (the failure's text, system-out, system-err): GitLab keeps 64 KiB too. */
  output: 64 * 1024,
  /** Bytes of the report as JSON; cases past it are counted, not listed, and their output dropped first. */
  reportBytes: 20 * 1024 * 1024,
} as const;

export interface TestCase {
  /** The enclosing `<testsuite>` names, outermost first, joined by " › " (node's nested `describe`s). */
  suite: string;
  classname: string;
  name: string;
  /** The report file it came from, relative to the workspace. */
  file: string;
  status: TestStatus;
  /** null when the file gave no (valid) `time`. */
  durationMs: number | null;
  /** The failure's or error's message (its `message` attribute, else its text's first line); skipped: why. */
  message: string | null;
  /** The failure's text (a stack), then system-out and system-err; cut at TEST_REPORT_LIMITS.output. */
  output: string | null;
  /** Whether message or output were cut (or dropped for the report's byte budget). */
  truncated?: true;
}

export interface TestCounts {
  total: number;
  passed: number;
  failed: number;
  error: number;
  skipped: number;
  /** The sum of the cases' durations, in milliseconds. */
  durationMs: number;
}

/** What one attempt's report files gave, as the agent sends it and the store keeps it. */
export interface TestReport {
  /** Every case read, listed or not. */
  counts: TestCounts;
  /** Cases read but not listed (past TEST_REPORT_LIMITS.cases or .reportBytes). */
  unlisted: number;
  /** Files read (malformed ones excluded). */
  files: number;
  cases: TestCase[];
}

export const emptyCounts = (): TestCounts => ({ total: 0, passed: 0, failed: 0, error: 0, skipped: 0, durationMs: 0 });

export function addToCounts(c: TestCounts, status: TestStatus, durationMs: number | null): void {
  c.total++;
  c[status]++;
  if (durationMs !== null) c.durationMs += durationMs;
}

/** A test's identity across attempts: its suite, class and name. */
export const testKey = (c: Pick<TestCase, 'suite' | 'classname' | 'name'>): string => `${c.suite}\u0000${c.classname}\u0000${c.name}`;

/**
 * Why a report an agent sent cannot be kept, or null. Besides the schema's bounds: the counts
 * must add up and cover the listed cases (the agent counts what it did not list).
 */
export function reportProblem(r: TestReport): string | null {
  const c = r.counts;
  if (c.passed + c.failed + c.error + c.skipped !== c.total) return 'counts: passed + failed + error + skipped must equal total';
  if (r.cases.length + r.unlisted !== c.total) return 'counts: the listed cases and unlisted must add up to total';
  const listed = emptyCounts();
  for (const x of r.cases) addToCounts(listed, x.status, null);
  for (const s of TEST_STATUSES) if (listed[s] > c[s]) return `counts: ${listed[s]} ${s} cases listed but ${c[s]} counted`;
  return null;
}

/** One attempt's report as the pipeline's view reads it. */
export interface AttemptReport {
  jobId: number;
  jobName: string;
  attempt: number;
  report: TestReport;
}

export interface ViewCase extends TestCase {
  jobId: number;
  jobName: string;
  attempt: number;
  /** Passed here after failing in an earlier attempt of the same job. */
  flaky: boolean;
}

export interface TestSummary extends TestCounts {
  /** Passed cases that failed in an earlier attempt of their job (counted in `passed` too). */
  flaky: number;
  unlisted: number;
}

export interface SuiteSummary {
  name: string;
  jobName: string;
  total: number;
  failed: number;
  error: number;
  skipped: number;
  flaky: number;
  durationMs: number;
}

export interface TestsView {
  summary: TestSummary;
  suites: SuiteSummary[];
  cases: ViewCase[];
}

const STATUS_ORDER: Record<TestStatus, number> = { failed: 0, error: 1, passed: 3, skipped: 4 };
/** Failures first (then errors, flaky passes, passes, skips); within each the slowest first. */
const rank = (c: ViewCase) => (c.flaky ? 2 : STATUS_ORDER[c.status]);

/**
 * A pipeline's (or a job's) tests: each job's latest attempt with a report counts; flaky is a
 * case passing there that failed (or errored) in an earlier attempt of the same job.
 */
export function testsView(reports: readonly AttemptReport[]): TestsView {
  const byJob = new Map<number, AttemptReport[]>();
  for (const r of reports) {
    const list = byJob.get(r.jobId) ?? [];
    list.push(r);
    byJob.set(r.jobId, list);
  }
  const summary: TestSummary = { ...emptyCounts(), flaky: 0, unlisted: 0 };
  const suites = new Map<string, SuiteSummary>();
  const cases: ViewCase[] = [];
  for (const list of byJob.values()) {
    list.sort((a, b) => a.attempt - b.attempt);
    const latest = list[list.length - 1]!;
    const failedBefore = new Set<string>();
    for (const r of list.slice(0, -1)) for (const c of r.report.cases) if (c.status === 'failed' || c.status === 'error') failedBefore.add(testKey(c));
    const counts = latest.report.counts;
    for (const k of ['total', 'passed', 'failed', 'error', 'skipped', 'durationMs'] as const) summary[k] += counts[k];
    summary.unlisted += latest.report.unlisted;
    for (const c of latest.report.cases) {
      const flaky = c.status === 'passed' && failedBefore.has(testKey(c));
      if (flaky) summary.flaky++;
      cases.push({ ...c, jobId: latest.jobId, jobName: latest.jobName, attempt: latest.attempt, flaky });
      const sk = `${latest.jobId}\u0000${c.suite}`;
      let s = suites.get(sk);
      if (!s) suites.set(sk, (s = { name: c.suite, jobName: latest.jobName, total: 0, failed: 0, error: 0, skipped: 0, flaky: 0, durationMs: 0 }));
      s.total++;
      if (c.status !== 'passed') s[c.status]++;
      if (flaky) s.flaky++;
      s.durationMs += c.durationMs ?? 0;
    }
  }
  cases.sort((a, b) => rank(a) - rank(b) || (b.durationMs ?? 0) - (a.durationMs ?? 0));
  const suiteList = [...suites.values()].sort((a, b) => b.failed + b.error - (a.failed + a.error) || a.name.localeCompare(b.name));
  return { summary, suites: suiteList, cases };
}

/** "1,204 passed, 3 failed, 2 flaky" (errors and skips only when there are some). */
export function summaryLine(s: TestSummary): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const parts = [`${n(s.passed)} passed`, `${n(s.failed)} failed`];
  if (s.error > 0) parts.push(`${n(s.error)} errors`);
  if (s.skipped > 0) parts.push(`${n(s.skipped)} skipped`);
  if (s.flaky > 0) parts.push(`${n(s.flaky)} flaky`);
  return parts.join(', ');
}
