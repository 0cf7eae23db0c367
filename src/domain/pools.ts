// Pools: where an agent runs jobs, and the price of a minute there (issue 18, docs/RUNNING.md).

/** The pool of an agent that names none. */
export const DEFAULT_POOL = 'default';

/** A pool's name: what `gantry agent --pool` and the pools routes accept. */
export const POOL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Cost factors are kept in thousandths, so that amounts stay exact integers. */
export const FACTOR_SCALE = 1000;

/** The factor of a pool no admin has priced. */
export const DEFAULT_COST_FACTOR_MILLI = FACTOR_SCALE;

/** The highest cost factor an admin may give a pool. */
export const MAX_COST_FACTOR = 1000;

/**
 * A cost factor as stored (thousandths), or null when it is not one: negative, above
 * MAX_COST_FACTOR, or with more than three decimals (the tolerance absorbs binary fractions:
 * 1.1 is 1100.0000000000002 thousandths).
 */
export function costFactorMilliOf(factor: number): number | null {
  if (!Number.isFinite(factor) || factor < 0 || factor > MAX_COST_FACTOR) return null;
  const milli = Math.round(factor * FACTOR_SCALE);
  return Math.abs(milli - factor * FACTOR_SCALE) < 1e-6 ? milli : null;
}
