// The gates (docs/API.md, "Approvals"; SECURITY.md, "Gates"): a fork's pipeline waiting for a
// maintainer, the authors approved always, protected environments, the decisions on a deployment
// waiting for its approvals, and the environments' deployments. Every decision is in the audit log,
// written in the transaction of the move it makes.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TriggeredBy } from '../../domain/triggered-by.js';
import type { Deployment } from '../../store/gates.js';
import type { Job, Pipeline } from '../../store/store.js';
import { pipelineJson } from '../../views/pipeline-json.js';
import { auditWhen } from '../audit.js';
import { ApiError } from '../errors.js';
import { levelOn, may, type Principal } from '../policy.js';
import { routeProject, routeTarget } from '../route-access.js';
import { digitsSchema, errors, idParams, jobSchema, limitSchema, pipelineSchema, projectParams } from '../schemas.js';
import { jobJson } from '../views.js';
import type { RouteContext } from './context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** How a decision names its maker, and the key one approver counts once by. */
export function approverOf(p: Principal): { key: string; name: string } {
  if (p.kind === 'user') return { key: `user:${p.user.id}`, name: p.user.username };
  return { key: `token:${p.tokenId}`, name: p.kind === 'admin-token' ? (p.description ?? 'admin token') : (p.description ?? `API token #${p.tokenId}`) };
}

/**
 * Whether `p` is who triggered the pipeline: the same user (by session or personal token), the same
 * token, or a user whose name is the forge account that pushed (a forge login is no Gantry user,
 * so a match by name is taken as the same person: refusing a namesake is the safe mistake).
 */
export function triggeredIt(p: Principal, by: TriggeredBy | null): boolean {
  if (by === null) return false;
  if (p.kind === 'user') return (by.kind === 'user' && by.userId === p.user.id) || (by.kind === 'forge_user' && by.name === p.user.username);
  return by.kind === 'token' && by.tokenId === p.tokenId;
}

const scopeSchema = { type: 'string', enum: ['once', 'always'] } as const;
const commentSchema = { type: 'string', maxLength: 2000 } as const;
const environmentName = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9 _./{}$-]+$' } as const;
const environmentParams = {
  type: 'object',
  properties: { project: projectParams.properties.project, name: environmentName },
  required: ['project', 'name'],
} as const;

const environmentSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    requiredApprovals: { type: 'integer' },
    deployers: { type: 'array', items: { type: 'string' } },
  },
  required: ['name', 'requiredApprovals', 'deployers'],
} as const;

const decisionSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    decision: { type: 'string', enum: ['approved', 'rejected'] },
    comment: { type: ['string', 'null'] },
    at: { type: 'string', format: 'date-time' },
  },
  required: ['name', 'decision', 'comment', 'at'],
} as const;

const deploymentSchema = {
  type: 'object',
  properties: {
    jobId: { type: 'integer' },
    jobName: { type: 'string' },
    pipelineId: { type: 'integer' },
    ref: { type: 'string' },
    sha: { type: 'string' },
    status: { type: 'string' },
    triggeredBy: { type: ['object', 'null'], additionalProperties: true },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: ['string', 'null'], format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
    approvals: { type: 'array', items: decisionSchema },
  },
  required: ['jobId', 'jobName', 'pipelineId', 'ref', 'sha', 'status', 'triggeredBy', 'createdAt', 'startedAt', 'finishedAt'],
} as const;

function deploymentJson(d: Deployment) {
  return {
    jobId: d.jobId,
    jobName: d.jobName,
    pipelineId: d.pipelineId,
    ref: d.ref,
    sha: d.sha,
    status: d.status,
    triggeredBy: d.triggeredBy,
    createdAt: iso(d.createdAt)!,
    startedAt: iso(d.startedAt),
    finishedAt: iso(d.finishedAt),
  };
}

export function approvalRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const pipelineOf = (request: FastifyRequest): Pipeline => {
    const p = routeTarget(request).pipeline!;
    if (p.runsOn === 'local') throw new ApiError('GANTRY_E_NOT_WAITING_FOR_APPROVAL', `pipeline ${p.id} ran with gantry run: it never waits for approval`);
    return p;
  };
  const notWaiting = async (id: number): Promise<never> => {
    const now = (await ctx.store.getPipelineOnly(id as never))?.status ?? 'gone';
    throw new ApiError('GANTRY_E_NOT_WAITING_FOR_APPROVAL', `pipeline ${id} is ${now}, not waiting for approval`);
  };

  app.post(
    '/pipelines/:id/approve',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Approve a fork's pipeline waiting for approval: it runs",
        description:
          'scope once (the default): this pipeline only; always: also every later pull request of the same author on this project ' +
          '(GET /projects/:project/fork-authors lists them). 409 GANTRY_E_NOT_WAITING_FOR_APPROVAL when the pipeline is not waiting.',
        tags: ['pipelines'],
        params: idParams,
        body: { type: 'object', properties: { scope: scopeSchema }, additionalProperties: false },
        response: { 200: pipelineSchema, ...errors(400, 403, 404, 409) },
      },
    },
    async (request) => {
      const p = pipelineOf(request);
      const scope = ((request.body ?? {}) as { scope?: 'once' | 'always' }).scope ?? 'once';
      if (scope === 'always' && p.status === 'waiting_for_approval' && p.forkAuthor === null) {
        throw new ApiError('GANTRY_E_CONFLICT', `pipeline ${p.id}: the forge named no author, so there is no one to approve always; approve it once`);
      }
      const by = approverOf(request.principal!);
      const at = ctx.now();
      const audit = auditWhen(request, at, (r: unknown) => r !== null && typeof r === 'object', () => ({
        action: 'pipeline.approve',
        projectId: p.projectId,
        target: { type: 'pipeline', id: String(p.id) },
        details: { ref: p.ref, scope, author: p.forkAuthor?.name ?? null, provider: p.forkAuthor?.provider ?? null },
      }));
      const r = await ctx.store.fleet.approvePipeline(p.id, by.name, scope === 'always', at, audit);
      if (r === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${p.id}`);
      if (r === 'not-waiting') return notWaiting(p.id);
      return pipelineJson(r);
    },
  );

  app.post(
    '/pipelines/:id/reject',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Reject a fork's pipeline waiting for approval: it is canceled and nothing of it runs",
        tags: ['pipelines'],
        params: idParams,
        body: { type: 'object', properties: { comment: commentSchema }, additionalProperties: false },
        response: { 200: pipelineSchema, ...errors(400, 403, 404, 409) },
      },
    },
    async (request) => {
      const p = pipelineOf(request);
      const comment = ((request.body ?? {}) as { comment?: string }).comment ?? null;
      const at = ctx.now();
      const audit = auditWhen(request, at, (r: unknown) => r !== null && typeof r === 'object', () => ({
        action: 'pipeline.reject',
        projectId: p.projectId,
        target: { type: 'pipeline', id: String(p.id) },
        details: { ref: p.ref, author: p.forkAuthor?.name ?? null, provider: p.forkAuthor?.provider ?? null, comment },
      }));
      const r = await ctx.store.fleet.rejectPipeline(p.id, at, audit);
      if (r === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no pipeline ${p.id}`);
      if (r === 'not-waiting') return notWaiting(p.id);
      return pipelineJson(r);
    },
  );

  app.get(
    '/projects/:project/fork-authors',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'The authors whose pull requests from forks run without approval (approved always)',
        tags: ['projects'],
        params: projectParams,
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { provider: { type: 'string' }, author: { type: 'string' }, approvedBy: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' } },
                },
              },
            },
          },
          ...errors(403, 404),
        },
      },
    },
    async (request) => {
      const items = await ctx.store.gates.listForkAuthors(routeProject(request).id);
      return { items: items.map((a) => ({ ...a, createdAt: iso(a.createdAt) })) };
    },
  );

  app.delete(
    '/projects/:project/fork-authors/:provider/:author',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: 'Stop approving an author always: their next pull request from a fork waits again',
        tags: ['projects'],
        params: {
          type: 'object',
          properties: { project: projectParams.properties.project, provider: { type: 'string', maxLength: 20 }, author: { type: 'string', minLength: 1, maxLength: 255 } },
          required: ['project', 'provider', 'author'],
        },
        response: { 204: { type: 'null' }, ...errors(403, 404) },
      },
    },
    async (request, reply) => {
      const project = routeProject(request);
      const { provider, author } = request.params as { provider: string; author: string };
      const audit = auditWhen(request, ctx.now(), (ok: boolean) => ok, () => ({
        action: 'fork_author.remove',
        projectId: project.id,
        target: { type: 'fork_author', id: author },
        details: { provider },
      }));
      if (!(await ctx.store.gates.removeForkAuthor(project.id, provider, author, audit))) {
        throw new ApiError('GANTRY_E_NOT_FOUND', `${author} (${provider}) is not approved always on project ${project.name}`);
      }
      return reply.status(204).send();
    },
  );

  // ---- protected environments

  app.get(
    '/projects/:project/environments',
    {
      config: { access: 'viewer' },
      schema: {
        summary: "The project's environments: those protected and those deployed to, each with its last deployment",
        tags: ['environments'],
        params: projectParams,
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: { type: 'object', properties: { ...environmentSchema.properties, lastDeployment: { anyOf: [{ type: 'null' }, deploymentSchema] } } },
              },
            },
          },
          ...errors(403, 404),
        },
      },
    },
    async (request) => {
      const items = await ctx.store.gates.listEnvironments(routeProject(request).id);
      return { items: items.map((e) => ({ ...e, lastDeployment: e.lastDeployment && deploymentJson(e.lastDeployment) })) };
    },
  );

  app.put(
    '/projects/:project/environments/:name',
    {
      config: { access: 'maintainer' },
      schema: {
        summary: "Protect an environment: its deployments wait for approvals",
        description:
          'requiredApprovals (0 to 5; 0 protects nothing): a job with this environment: name waits (waiting_for_approval) until that ' +
          "many different people approve it, none of them the person who triggered its pipeline. deployers: usernames who may approve " +
          "besides the project's maintainers, if they are at least developers of the project. Replaces the environment's settings whole.",
        tags: ['environments'],
        params: environmentParams,
        body: {
          type: 'object',
          properties: {
            requiredApprovals: { type: 'integer', minimum: 0, maximum: 5 },
            deployers: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 100 }, maxItems: 100 },
          },
          required: ['requiredApprovals'],
          additionalProperties: false,
        },
        response: { 200: environmentSchema, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const { name } = request.params as { name: string };
      const body = request.body as { requiredApprovals: number; deployers?: string[] };
      const env = { name, requiredApprovals: body.requiredApprovals, deployers: [...new Set(body.deployers ?? [])].sort() };
      const at = ctx.now();
      const audit = auditWhen(request, at, () => true, () => ({
        action: 'environment.set',
        projectId: project.id,
        target: { type: 'environment', id: name },
        details: { requiredApprovals: env.requiredApprovals, deployers: env.deployers },
      }));
      const saved = await ctx.store.gates.putEnvironment(project.id, env, at, audit);
      return { name: saved.name, requiredApprovals: saved.requiredApprovals, deployers: saved.deployers };
    },
  );

  app.get(
    '/projects/:project/environments/:name/deployments',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'The jobs that deploy to an environment, newest first, with the decisions on each',
        tags: ['environments'],
        params: environmentParams,
        querystring: { type: 'object', properties: { limit: limitSchema, before: digitsSchema }, additionalProperties: false },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: deploymentSchema }, next: { type: ['integer', 'null'] } } }, ...errors(400, 403, 404) },
      },
    },
    async (request) => {
      const project = routeProject(request);
      const { name } = request.params as { name: string };
      const q = request.query as { limit?: string; before?: string };
      const limit = q.limit === undefined ? 20 : Number(q.limit);
      const rows = await ctx.store.gates.listDeployments(project.id, name, limit, q.before === undefined ? undefined : Number(q.before));
      const items = [];
      for (const d of rows) {
        const decisions = await ctx.store.gates.jobDecisions(d.jobId);
        items.push({ ...deploymentJson(d), approvals: decisions.map((x) => ({ name: x.name, decision: x.decision, comment: x.comment, at: iso(x.at)! })) });
      }
      return { items, next: rows.length === limit ? rows[rows.length - 1]!.jobId : null };
    },
  );

  // ---- a deployment's decisions

  const decide = (verb: 'approve' | 'reject') =>
    app.post(
      `/jobs/:id/${verb}`,
      {
        config: { access: 'developer' },
        schema: {
          summary: verb === 'approve' ? 'Approve a deployment waiting for approval' : 'Reject a deployment waiting for approval: the job fails (deployment_rejected)',
          description:
            "A maintainer of the project, or a developer named in the environment's deployers, may decide; not the person who triggered " +
            'the pipeline (403 GANTRY_E_SELF_APPROVAL) for an approval. Each person counts once (409 GANTRY_E_ALREADY_APPROVED). ' +
            '409 GANTRY_E_NOT_WAITING_FOR_APPROVAL when the job is not waiting.',
          tags: ['jobs'],
          params: idParams,
          body: {
            type: 'object',
            properties: { comment: commentSchema },
            ...(verb === 'reject' ? { required: ['comment'] } : {}),
            additionalProperties: false,
          },
          response: { 200: jobSchema, ...errors(400, 403, 404, 409) },
        },
      },
      async (request) => {
        const target = routeTarget(request);
        const job: Job = target.job!;
        const pipeline = target.pipeline!;
        const principal = request.principal!;
        if (job.status !== 'waiting_for_approval') {
          throw new ApiError('GANTRY_E_NOT_WAITING_FOR_APPROVAL', `job ${job.id} is ${job.status}, not waiting for approval`);
        }
        const env = job.spec.environment === null ? null : await ctx.store.gates.getEnvironment(pipeline.projectId, job.spec.environment);
        const maintainer = may(principal, { kind: 'project', projectId: pipeline.projectId, role: 'maintainer' });
        const deployer = principal.kind === 'user' && levelOn(principal, pipeline.projectId) !== null && (env?.deployers ?? []).includes(principal.user.username);
        if (!maintainer && !deployer) {
          throw new ApiError(
            'GANTRY_E_FORBIDDEN',
            `only a maintainer of the project, or a deployer of environment ${job.spec.environment ?? '(none)'}, may ${verb} job ${job.id}`,
          );
        }
        if (verb === 'approve' && triggeredIt(principal, pipeline.triggeredBy)) {
          throw new ApiError('GANTRY_E_SELF_APPROVAL', `job ${job.id}: its pipeline was triggered by ${pipeline.triggeredBy!.name}, who may not approve its deployment; someone else must`);
        }
        const by = approverOf(principal);
        const comment = ((request.body ?? {}) as { comment?: string }).comment ?? null;
        const at = ctx.now();
        const audit = auditWhen(request, at, (r: unknown) => r !== null && typeof r === 'object', () => ({
          action: `job.${verb}` as const,
          projectId: pipeline.projectId,
          target: { type: 'job', id: String(job.id) },
          details: { name: job.name, pipelineId: pipeline.id, ref: pipeline.ref, environment: job.spec.environment, comment },
        }));
        const r = await ctx.store.fleet.decideJob(job.id, { approver: by.key, name: by.name, decision: verb === 'approve' ? 'approved' : 'rejected', comment }, at, audit);
        if (r === null) throw new ApiError('GANTRY_E_NOT_FOUND', `no job ${job.id}`);
        if (r === 'already') throw new ApiError('GANTRY_E_ALREADY_APPROVED', `${by.name} has already decided on job ${job.id}: each person counts once`);
        if (r === 'not-waiting') throw new ApiError('GANTRY_E_NOT_WAITING_FOR_APPROVAL', `job ${job.id} is no longer waiting for approval`);
        return jobJson(r);
      },
    );
  decide('approve');
  decide('reject');
}
