import type { Command } from 'commander';
import { GantryError } from '../../domain/errors.js';
import { asPipelineId } from '../../domain/ids.js';
import { PIPELINE_STATUSES, type PipelineStatus } from '../../domain/status.js';
import { pipelineSummaryJson } from '../../views/pipeline-json.js';
import type { CliContext } from '../context.js';
import { openHome } from '../open-home.js';
import { positiveInt } from '../options.js';
import { formatDuration } from '../render/terminal-text.js';
import { statusStyle } from '../render/status-style.js';

interface Flags {
  status?: string;
  ref?: string;
  limit?: number;
  before?: number;
  json?: boolean;
}

export function registerPipelines(program: Command, ctx: CliContext): void {
  program
    .command('pipelines')
    .description('List past pipelines, newest first')
    .option('-s, --status <status>', `only this status (${PIPELINE_STATUSES.join(', ')})`)
    .option('-r, --ref <ref>', 'only this branch or tag')
    .option('-n, --limit <n>', 'how many (default 20, at most 100)', positiveInt('--limit'))
    .option('--before <id>', 'only pipelines older than this id (paging)', positiveInt('--before'))
    .option('--json', 'print {items, next} as JSON')
    .action(async (flags: Flags) => {
      if (flags.status && !(PIPELINE_STATUSES as readonly string[]).includes(flags.status)) {
        throw new GantryError('GANTRY_E_USAGE', `--status must be one of ${PIPELINE_STATUSES.join(', ')}`);
      }
      const home = await openHome(ctx);
      try {
        const projects = new Map((await home.store.listProjects()).map((p) => [p.id as number, p.name]));
        const page = await home.store.listPipelines({
          status: flags.status as PipelineStatus | undefined,
          ref: flags.ref,
          limit: flags.limit,
          beforeId: flags.before === undefined ? undefined : asPipelineId(flags.before),
        });
        const coverages = await home.store.pipelineCoverages(page.items.map((p) => p.id));
        if (flags.json) {
          const items = page.items.map((p) => ({ ...pipelineSummaryJson(p, coverages.get(p.id) ?? null), project: projects.get(p.projectId) ?? null }));
          ctx.stdout.write(`${JSON.stringify({ items, next: page.next })}\n`);
          return;
        }
        if (page.items.length === 0) {
          ctx.stdout.write('no pipelines yet: run one with `gantry run`\n');
          return;
        }
        const color = ctx.config.color;
        const rows = page.items.map((p) => [
          `#${p.id}`,
          p.status,
          projects.get(p.projectId) ?? '',
          p.ref,
          p.sha.slice(0, 8),
          p.source,
          p.triggeredBy?.name ?? '',
          p.startedAt !== null && p.finishedAt !== null ? formatDuration(p.finishedAt - p.startedAt) : '',
          coverages.has(p.id) ? `${coverages.get(p.id)}%` : '',
          new Date(p.createdAt).toISOString().replace('T', ' ').slice(0, 19),
        ]);
        const head = ['ID', 'STATUS', 'PROJECT', 'REF', 'SHA', 'SOURCE', 'BY', 'DURATION', 'COVERAGE', 'CREATED (UTC)'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        ctx.stdout.write(`${head.map((h, i) => h.padEnd(widths[i]!)).join('  ')}\n`);
        for (const r of rows) {
          const st = statusStyle(r[1] as PipelineStatus, color);
          ctx.stdout.write(`${r.map((cell, i) => (i === 1 ? st.paint(cell.padEnd(widths[i]!)) : cell.padEnd(widths[i]!))).join('  ')}\n`);
        }
        // Why a pipeline waits for a person, under the table (the reason is too long for a column).
        for (const p of page.items) {
          if (p.status === 'waiting_for_approval' && p.approval) ctx.stdout.write(`#${p.id} waits for approval: ${p.approval.reason} (gantry approve --pipeline ${p.id})\n`);
        }
        if (page.next !== null) ctx.stdout.write(`(more: gantry pipelines --before ${page.next})\n`);
      } finally {
        await home.close();
      }
    });
}
