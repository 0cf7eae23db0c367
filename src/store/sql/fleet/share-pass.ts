// Fair share's virtual time in the database (`projects.share_pass`, src/scheduler/fair-share.ts):
// the take's offers move the passes of the projects it served, in its own transaction, so every
// server instance ranks the next take from the same passes.

import type { ShareState } from '../../../scheduler/fair-share.js';
import { strideOf } from '../../../scheduler/fair-share.js';
import type { FleetTx } from './fleet-tx.js';

/**
 * Writes the passes of the projects a take offered work to: `offers` per project id, `states`
 * as the take left them. Written relative to the row as it is then, not as the take read it: two
 * instances that offered the same project at once both count (the later UPDATE waits for the
 * earlier's commit and re-reads the row, READ COMMITTED), and the lift out of the past (no
 * banking) is a floor, so applying it again changes nothing.
 *
 * On PostgreSQL each UPDATE holds the project's row lock, and it is sent with the COMMIT
 * (atCommit): the lock is taken and released within that one round trip, never held while the
 * take talks to the database. What waits for it: another take's pass update of the same project
 * (for as long as a commit runs), a take that locks the project for its running limits, and a
 * change of the project's settings; no take that serves other projects, and no agent's start,
 * log or completion. Projects in id order, so two takes' pass updates never wait for each other in
 * a circle (one with a take that holds a project for its limits still can, as two such takes
 * already could: PostgreSQL breaks it and the take runs again).
 */
export async function recordPassesIn(f: FleetTx, states: ReadonlyMap<number, ShareState>, offers: ReadonlyMap<number, number>): Promise<void> {
  for (const id of [...offers.keys()].sort((a, b) => a - b)) {
    const state = states.get(id)!;
    const advance = offers.get(id)! * strideOf(state.weight);
    const floor = state.pass - advance;
    await f.db.atCommit(f.tx, 'UPDATE projects SET share_pass = CASE WHEN share_pass < ? THEN ? ELSE share_pass END + ? WHERE id = ?', [floor, floor, advance, id]);
  }
}
