// Where each job of a pipeline is drawn: one column per stage (in stage order), one row per job,
// and one edge per `needs:` entry. Within a column, jobs that need something sit near the rows
// of what they need (the mean of those rows), which keeps most edges short and few crossing;
// the others keep the pipeline file's order. Pure and linear in jobs + edges: 500 jobs lay out
// in well under a millisecond.

import type { Job } from '../api/types.js';

export const NODE_W = 220;
export const NODE_H = 44;
export const COL_GAP = 56;
export const ROW_GAP = 10;
export const HEADER_H = 30;

export interface DagNode {
  job: Job;
  column: number;
  row: number;
  x: number;
  y: number;
}

export interface DagEdge {
  from: DagNode;
  to: DagNode;
}

export interface DagLayout {
  stages: { name: string; x: number; jobs: number }[];
  nodes: DagNode[];
  edges: DagEdge[];
  width: number;
  height: number;
}

export function layoutDag(jobs: readonly Job[]): DagLayout {
  // The API lists jobs in stage order, so first appearance is stage order.
  const stageIndex = new Map<string, number>();
  for (const j of jobs) if (!stageIndex.has(j.stage)) stageIndex.set(j.stage, stageIndex.size);
  const columns: Job[][] = [...stageIndex.keys()].map(() => []);
  for (const j of jobs) columns[stageIndex.get(j.stage)!]!.push(j);

  const byName = new Map<string, DagNode>();
  const nodes: DagNode[] = [];
  columns.forEach((col, c) => {
    const keyed = col.map((job, i) => {
      const rows = (job.needs ?? []).map((n) => byName.get(n)?.row).filter((r): r is number => r !== undefined);
      return { job, key: rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : i, i };
    });
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    keyed.forEach(({ job }, row) => {
      const node: DagNode = { job, column: c, row, x: c * (NODE_W + COL_GAP), y: HEADER_H + row * (NODE_H + ROW_GAP) };
      nodes.push(node);
      byName.set(job.name, node);
    });
  });

  const edges: DagEdge[] = [];
  for (const to of nodes) for (const n of to.job.needs ?? []) {
    const from = byName.get(n);
    if (from) edges.push({ from, to });
  }
  const tallest = Math.max(0, ...columns.map((c) => c.length));
  return {
    stages: [...stageIndex.keys()].map((name, c) => ({ name, x: c * (NODE_W + COL_GAP), jobs: columns[c]!.length })),
    nodes,
    edges,
    width: Math.max(0, columns.length * (NODE_W + COL_GAP) - COL_GAP),
    height: HEADER_H + tallest * (NODE_H + ROW_GAP),
  };
}

/** The lane above the first row where edges that skip a stage run, clear of the boxes. */
const SKIP_LANE_Y = HEADER_H - 7;

/**
 * An edge as an SVG path: from the right side of `from` to the left side of `to`. One that skips
 * a stage would cross that stage's boxes, so it climbs to the lane above the rows, runs along it
 * through the gaps, and comes down into its target.
 */
export function edgePath(e: DagEdge): string {
  const x1 = e.from.x + NODE_W;
  const y1 = e.from.y + NODE_H / 2;
  const x2 = e.to.x;
  const y2 = e.to.y + NODE_H / 2;
  if (e.to.column - e.from.column <= 1) {
    const dx = Math.max(24, (x2 - x1) / 2);
    return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
  }
  const gap = COL_GAP / 2;
  return (
    `M${x1},${y1} C${x1 + gap},${y1} ${x1 + gap},${SKIP_LANE_Y} ${x1 + COL_GAP},${SKIP_LANE_Y} ` +
    `L${x2 - COL_GAP},${SKIP_LANE_Y} C${x2 - gap},${SKIP_LANE_Y} ${x2 - gap},${y2} ${x2},${y2}`
  );
}
