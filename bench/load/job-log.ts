// What a load-test job prints, and how a printed line is read back. Every line carries the job's
// identity, its sequence number and its print time, so that (a) a viewer can tell how old a line
// is when it arrives (same host, same clock), and (b) a log read back afterwards can be checked
// line by line: all of them, in order, each once, nothing else in between.

/** Lines each job prints, one every LINE_GAP_S: a job runs about a second. */
export const LINES_PER_JOB = 10;
const LINE_GAP_S = 0.1;
/** The same on every line, so that a line's length is not all identity and numbers. */
export const FILLER = 'of a load-test job log, some text to make it look like a build';

/**
 * The job's script: one Perl process per job (a bash loop of `date` and `sleep` would fork twenty
 * processes a job; on two cores shared by 50 agents and two servers the bench's own jobs would be
 * the load). One write(2) per line, stamped at print time in microseconds of the realtime clock.
 */
export function printerScript(): string {
  return (
    `perl -MTime::HiRes=time,sleep -e '$|=1; for $i (0..${LINES_PER_JOB - 1}) { ` +
    `printf "L %s %d %.0f %s/%s ${FILLER}\\n", $ENV{CI_JOB_ID}, $i, time*1e6, $ENV{CI_COMMIT_REF_NAME}, $ENV{CI_JOB_NAME}; ` +
    `sleep ${LINE_GAP_S} if $i < ${LINES_PER_JOB - 1} }'`
  );
}

export interface PrintedLine {
  jobId: number;
  seq: number;
  /** Print time, ms since the epoch (fractional). */
  printedAtMs: number;
  identity: string;
}

const LINE = /^L (\d+) (\d+) (\d+) (\S+) (.*)$/;

/** A printed line, or null for anything else in the log (the shell's echo of the command, sections). */
export function parseLine(line: string): PrintedLine | null {
  const m = LINE.exec(line);
  if (!m || m[5] !== FILLER) return null;
  return { jobId: Number(m[1]), seq: Number(m[2]), printedAtMs: Number(m[3]) / 1000, identity: m[4]! };
}

export interface LogCheck {
  /** Lines of the job's sequence that are not there. */
  lost: number;
  /** Lines there more than once. */
  duplicated: number;
  /** Lines that are there but wrong: another job's, out of order, not as printed. */
  wrong: number;
}

/**
 * Checks a log against what the job printed: exactly LINES_PER_JOB lines of this job, `identity`
 * (ref/name), sequence 0..N-1 in order, print times not going back. The print times are the only
 * part of a line the checker cannot know in advance; everything else in it is reconstructed.
 */
export function checkLog(text: string, jobId: number, identity: string): LogCheck {
  const seen = new Map<number, number>();
  let wrong = 0;
  let lastSeq = -1;
  let lastAt = 0;
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('L ')) continue;
    const l = parseLine(raw);
    if (!l || l.jobId !== jobId || l.identity !== identity || l.seq >= LINES_PER_JOB) {
      wrong++;
      continue;
    }
    const before = seen.get(l.seq) ?? 0;
    seen.set(l.seq, before + 1);
    // A repeat is counted as duplicated below, not as out of order too.
    if (before === 0 && (l.seq <= lastSeq || l.printedAtMs < lastAt)) wrong++;
    lastSeq = Math.max(lastSeq, l.seq);
    lastAt = Math.max(lastAt, l.printedAtMs);
  }
  let lost = 0;
  let duplicated = 0;
  for (let s = 0; s < LINES_PER_JOB; s++) {
    const n = seen.get(s) ?? 0;
    if (n === 0) lost++;
    else duplicated += n - 1;
  }
  return { lost, duplicated, wrong };
}
