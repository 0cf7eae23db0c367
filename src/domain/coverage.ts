// A pipeline's coverage as GitLab computes it from its jobs' (each job's is its latest attempt's).

/** The average over the jobs that have one, rounded to 2 decimals; null when none has. */
export function averageCoverage(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  if (known.length === 0) return null;
  return Math.round((known.reduce((a, b) => a + b, 0) / known.length) * 100) / 100;
}
