// Weighted fair share between the projects competing for one agent's slots: stride scheduling.
// Each project has a virtual time, its pass (`projects.share_pass`, in the database so that every
// server instance ranks alike), which each offer to it advances by its stride, 1_000_000 / weight:
// a project of weight 2 advances half as fast as one of weight 1, so it is offered twice as often.
//
// The rank, best first:
// 1. fewer jobs running or on offer per unit of weight, in whole units (running / weight, rounded
//    down): one project's long jobs cannot fill every slot while another waits; whole units, so a
//    project of weight 2 with one job running ties with one of weight 1 with none, and the pass
//    decides between them (a fraction would give them a slot each, whatever the weights);
// 2. the lower pass;
// 3. the one waiting longest (its oldest pending attempt).

/** What the rank of one competing project is made of. */
export interface ShareState {
  id: number;
  weight: number;
  pass: number;
  /** Its oldest pending attempt's id: queue order. */
  first: number;
}

/** How far one offer moves a project of `weight` on in virtual time. */
export function strideOf(weight: number): number {
  return Math.floor(1_000_000 / weight);
}

/** Negative when `a` goes before `b`; `running` counts a project's jobs running or on offer. */
export function compareShares(a: ShareState, b: ShareState, running: (id: number) => number): number {
  const level = (p: ShareState) => Math.floor(running(p.id) / p.weight);
  return level(a) - level(b) || a.pass - b.pass || a.first - b.first;
}

/**
 * The pass of `offered` once an offer is made to it, among `competitors` (the other projects
 * with work for this agent; itself may be among them and is skipped).
 *
 * No banking: a project that was idle keeps the low pass it had then, and would otherwise be
 * offered everything until it caught up, a burst as long as its absence. So its pass is first
 * raised to where it would be had it been competing all along, the classic virtual-time rule
 * (start = max(own, virtual time)). Virtual time is taken from the others: a project that competed
 * without a break is never behind another by more than that other's stride (it had the lower
 * pass each time the other was offered), so `max(pass - stride)` over the others is the lowest pass
 * it can have had. Raising it only that far leaves a project that never left untouched, and gives
 * one coming back at most one round before it takes turns with the rest. (The lowest pass of the
 * others alone is no floor: a project that was offered just before it would lift it past its due
 * every time, and the weights would be lost.) The one exception is rank 1: another project that
 * went first for having fewer jobs running may get ahead by more; this one then had more than its
 * share of the slots, and loses only the credit it had gained meanwhile.
 */
export function passAfterOffer(offered: ShareState, competitors: Iterable<ShareState>): number {
  let floor = offered.pass;
  for (const c of competitors) if (c.id !== offered.id) floor = Math.max(floor, c.pass - strideOf(c.weight));
  return floor + strideOf(offered.weight);
}
