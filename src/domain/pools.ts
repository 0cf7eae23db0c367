// Pools: where an agent runs jobs, and the price of a minute there (issue 18, docs/RUNNING.md).

/** The pool of an agent that names none. */
export const DEFAULT_POOL = 'default';

/** A pool's name: what `gantry agent --pool` and the pools routes accept. */
export const POOL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Cost factors are kept in thousandths, so that amounts stay exact integers. */
export const FACTOR_SCALE = 1000;

/** The factor of a pool no admin has priced. */
export const DEFAULT_COST_FACTOR_MILLI = FACTOR_SCALE;
