// Lint before commit (docs/API.md, "Lint"): the pipeline a file's text would make for a ref and a
// source, read with that ref's other files (its includes), errors at their lines and columns and
// the jobs rules leave out with why; nothing is stored. GitLab's CI Lint and pipeline editor.

import type { FastifyInstance } from 'fastify';
import { PIPELINE_SOURCES, type PipelineSource } from '../../domain/status.js';
import type { Diagnostic } from '../../pipeline/types.js';
import { routeProject } from '../route-access.js';
import { errors, projectParams } from '../schemas.js';
import { lintPipeline } from '../trigger.js';
import type { RouteContext } from './context.js';

/** A pipeline file larger than this is not one anyone edits in a browser. */
export const LINT_MAX_CHARS = 1_000_000;

const diagnosticSchema = {
  type: 'object',
  properties: { file: { type: 'string' }, line: { type: 'integer' }, column: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } },
  required: ['file', 'line', 'column', 'code', 'message'],
} as const;

const lintSchema = {
  type: 'object',
  properties: {
    valid: { type: 'boolean' },
    file: { type: 'string' },
    ref: { type: 'string' },
    sha: { type: 'string' },
    errors: { type: 'array', items: diagnosticSchema },
    warnings: { type: 'array', items: diagnosticSchema },
    filtered: { type: ['string', 'null'] },
    stages: { type: 'array', items: { type: 'string' } },
    jobs: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, stage: { type: 'string' }, needs: { type: ['array', 'null'], items: { type: 'string' } }, when: { type: 'string' }, allowFailure: { type: 'boolean' } },
        required: ['name', 'stage', 'needs', 'when', 'allowFailure'],
      },
    },
    left: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, reason: { type: 'string' } }, required: ['name', 'reason'] } },
  },
  required: ['valid', 'file', 'ref', 'sha', 'errors', 'warnings', 'filtered', 'stages', 'jobs', 'left'],
} as const;

const diagnosticJson = (d: Diagnostic) => ({ file: d.location.file, line: d.location.line, column: d.location.column, code: d.code, message: d.message });

export function lintRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post(
    '/projects/:project/lint',
    {
      // A developer's, as GitLab's CI Lint with simulation: viewers make no requests that are not reads.
      config: { access: 'developer' },
      schema: {
        summary: 'The pipeline a pipeline file would make for a ref and source, with every error at its line and column and the jobs rules leave out; nothing is stored',
        tags: ['pipelines'],
        params: projectParams,
        body: {
          type: 'object',
          properties: {
            content: { type: 'string', maxLength: LINT_MAX_CHARS },
            ref: { type: 'string', minLength: 1, maxLength: 255 },
            source: { type: 'string', enum: [...PIPELINE_SOURCES] },
            variables: { type: 'object', additionalProperties: { type: 'string', maxLength: 10_000 }, maxProperties: 200 },
          },
          required: ['content'],
          additionalProperties: false,
        },
        response: { 200: lintSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const body = request.body as { content: string; ref?: string; source?: PipelineSource; variables?: Record<string, string> };
      const answer = await lintPipeline(
        { store: ctx.store, mirrors: ctx.mirrors, now: ctx.now, settings: ctx.settings },
        routeProject(request),
        { content: body.content, ref: body.ref ?? null, source: body.source ?? 'push', variables: body.variables ?? {} },
      );
      const r = answer.result;
      const base = { file: answer.file, ref: answer.ref, sha: answer.sha };
      if (r.ok === false) return { ...base, valid: false, errors: r.errors.map(diagnosticJson), warnings: r.warnings.map(diagnosticJson), filtered: null, stages: [], jobs: [], left: [] };
      if (r.ok === 'filtered') return { ...base, valid: true, errors: [], warnings: r.warnings.map(diagnosticJson), filtered: r.reason, stages: [], jobs: [], left: r.left ?? [] };
      const p = r.pipeline;
      return {
        ...base,
        valid: true,
        errors: [],
        warnings: p.warnings.map(diagnosticJson),
        filtered: null,
        stages: p.stages,
        jobs: p.jobs.map((j) => ({ name: j.name, stage: j.stage, needs: j.needsMode === 'dag' ? j.needs.map((n) => n.job) : null, when: j.when, allowFailure: j.allowFailure === true })),
        left: p.left,
      };
    },
  );
}
