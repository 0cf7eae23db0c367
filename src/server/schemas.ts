// JSON schemas shared by the routes: they validate requests and make the OpenAPI document.

import { FORK_APPROVALS } from '../domain/approvals.js';
import { JOB_STATUSES, PIPELINE_SOURCES, PIPELINE_STATUSES } from '../domain/status.js';
import { DELIVERY_PROVIDERS } from '../domain/git-event.js';

const isoOrNull = { type: ['string', 'null'], format: 'date-time' } as const;

export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
      additionalProperties: true,
    },
  },
  required: ['error'],
} as const;

/** A project's name: not all digits, so `:project` is unambiguously an id or a name. */
export const projectNameSchema = { type: 'string', pattern: '^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' } as const;
/** Like a shell variable, as GitLab requires of variable keys. */
export const variableKeySchema = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,254}$' } as const;
/** A git branch or tag name (git check-ref-format's rules, short of a few rare forms). */
export const refSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: '^(?!-)(?!.*\\.\\.)(?!.*@\\{)(?!.*//)(?!/)(?!.*/$)(?!.*\\.$)(?!.*\\.lock$)[^\\x00-\\x20~^:?*\\[\\\\\\x7f]+$',
} as const;

export const projectParams = {
  type: 'object',
  properties: { project: { type: 'string', minLength: 1, maxLength: 100 } },
  required: ['project'],
} as const;
/**
 * An id in a path: digits only, at most 15 of them, so it is an exact JS number and fits a BIGINT
 * (number coercion would let `1e400` or `0x10` through to the database).
 */
export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' } },
  required: ['id'],
} as const;

export const idOf = (params: unknown): number => Number((params as { id: string }).id);

/** A cursor or number in a query string, with the same care as idParams. */
export const digitsSchema = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;
/** A page size, 1 to 100. */
export const limitSchema = { type: 'string', pattern: '^(100|[1-9][0-9]?)$' } as const;
export const numOrUndefined = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));

const MIB = 1024 * 1024;

/**
 * JobLimits (src/domain/isolation.ts), each field null for no limit. `floors` are the least a
 * project may ask (a job below them could not start a shell); an agent's own maximum only has to
 * be positive.
 */
export function jobLimitsSchema(floors: { memoryBytes: number; pids: number }) {
  return {
    type: 'object',
    properties: {
      memoryBytes: { type: ['integer', 'null'], minimum: floors.memoryBytes, maximum: 2 ** 50, description: 'bytes of memory of all the job\'s processes' },
      pids: { type: ['integer', 'null'], minimum: floors.pids, maximum: 4_194_304, description: 'processes and threads at once' },
      cpus: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1024, description: 'CPU time per second, in CPUs (1.5: one and a half cores)' },
    },
    additionalProperties: false,
  } as const;
}
/** What a project may set: at least 16 MiB and 16 processes. */
export const projectJobLimitsSchema = jobLimitsSchema({ memoryBytes: 16 * MIB, pids: 16 });
export const agentJobLimitsSchema = jobLimitsSchema({ memoryBytes: 1, pids: 1 });

const text300 = { type: 'string', maxLength: 300 } as const;
/** IsolationCheck (src/domain/isolation.ts) as an agent reports it. */
export const isolationCheckSchema = {
  type: ['object', 'null'],
  properties: {
    passed: { type: 'boolean' },
    checkedAt: { type: 'string', maxLength: 40 },
    probes: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        properties: {
          area: { type: 'string', enum: ['files', 'processes', 'environment', 'network', 'limits'] },
          probe: text300,
          expected: text300,
          observed: text300,
          ok: { type: 'boolean' },
        },
        required: ['area', 'probe', 'expected', 'observed', 'ok'],
        additionalProperties: false,
      },
    },
  },
  required: ['passed', 'checkedAt', 'probes'],
  additionalProperties: false,
} as const;

/** A project's isolation settings as the API shows them (projectJson). */
export const projectIsolationProperties = {
  requireSandbox: { type: 'boolean', description: 'every job needs a sandboxed agent whose isolation check passed' },
  network: { type: 'string', enum: ['full', 'none'], description: "trusted pipelines' jobs: the host's network, or loopback only" },
  forkNetwork: { type: 'string', enum: ['full', 'none'], description: "the network of jobs of pipelines from forks (trusted false)" },
  jobLimits: {
    type: 'object',
    properties: { memoryBytes: { type: ['integer', 'null'] }, pids: { type: ['integer', 'null'] }, cpus: { type: ['number', 'null'] } },
  },
} as const;

const daysOrNull = { type: ['integer', 'null'], minimum: 0, maximum: 36_500 } as const;

/** A project's own retention settings; null in a field: the instance's default (docs/RUNNING.md, "Retention and garbage collection"). */
export const projectRetentionProperties = {
  pipelineDays: { ...daysOrNull, description: "pipelines older than this many days are deleted, but for each ref's newest keepPerRef (0: kept for ever)" },
  keepPerRef: { type: ['integer', 'null'], minimum: 0, maximum: 10_000, description: 'the newest pipelines of each ref kept whatever their age (with pipelineDays)' },
  logDays: { ...daysOrNull, description: 'the logs of pipelines older than this many days are deleted, the pipelines kept (0: for ever); reading one is 410 GANTRY_E_LOG_EXPIRED' },
  artifactsExpireIn: {
    type: ['string', 'null'],
    maxLength: 100,
    description: "the expire_in of jobs that give none, in GitLab's syntax (30 days, 1h 30m) or never",
  },
  keepLatestArtifacts: { type: ['boolean', 'null'], description: "the artifacts of each ref's latest successful pipeline are kept past their expiry" },
} as const;

export const projectSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    gitUrl: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    maxRunning: { type: ['integer', 'null'] },
    maxRunningPerPipeline: { type: ['integer', 'null'] },
    autoCancel: { type: 'boolean' },
    ...projectIsolationProperties,
    forkIdTokens: { type: 'boolean', description: 'jobs of pipelines from forks get the identity tokens they ask for (id_tokens); default false: none' },
    publicBadges: { type: 'boolean', description: 'its pipeline and coverage badges answer without a token; default false' },
    forkApproval: {
      type: 'string',
      enum: [...FORK_APPROVALS],
      description: "which pipelines from forks wait for a maintainer's approval: all (the default), first-time (authors with no approved pipeline yet), none",
    },
    weight: { type: 'integer', description: 'its share weight: offered work weight times as often as a project of weight 1 when both wait (default 1)' },
    urgentJobs: { type: 'array', items: { type: 'string' }, description: "job name globs whose jobs go before the project's others, within its share" },
    retention: { type: 'object', properties: projectRetentionProperties, description: "the project's own retention settings; null: the instance's default" },
  },
  required: ['id', 'name', 'gitUrl', 'createdAt'],
} as const;

/** A URL git can clone, or a path on the server (so only admins set one). */
export const gitUrlSchema = { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[^-\\s]' } as const;

export const pipelineSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    projectId: { type: 'integer' },
    status: { type: 'string', enum: [...PIPELINE_STATUSES] },
    ref: { type: 'string' },
    sha: { type: 'string' },
    source: { type: 'string', enum: [...PIPELINE_SOURCES] },
    /** False for a pull request from a fork (no secrets, its own cache namespace). */
    trusted: { type: 'boolean' },
    triggeredBy: {
      type: ['object', 'null'],
      description:
        'Who or what started it, as recorded then (src/domain/triggered-by.ts): kind token (tokenId, tokenKind admin | api), user (userId), ' +
        'schedule (scheduleId), trigger_token (tokenId), forge_user (provider: the pusher or the request author), local_user ' +
        '(gantry run); name is what to show. Null when nobody was recorded.',
      properties: {
        kind: { type: 'string', enum: ['token', 'user', 'schedule', 'trigger_token', 'forge_user', 'local_user'] },
        name: { type: 'string' },
        tokenId: { type: 'integer' },
        userId: { type: 'integer' },
        tokenKind: { type: 'string', enum: ['admin', 'api'] },
        scheduleId: { type: 'integer' },
        provider: { type: 'string', enum: [...DELIVERY_PROVIDERS] },
      },
      required: ['kind', 'name'],
    },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: isoOrNull,
    finishedAt: isoOrNull,
    approval: {
      type: ['object', 'null'],
      description: "Set when it waited for a maintainer's approval (a fork's pull request): why, and once approved by whom and when",
      properties: { reason: { type: 'string' }, approvedBy: { type: ['string', 'null'] }, approvedAt: isoOrNull },
      required: ['reason', 'approvedBy', 'approvedAt'],
    },
    parent: {
      type: ['object', 'null'],
      description: 'A child pipeline (source parent_pipeline): its parent pipeline and the trigger job that made it; null for any other',
      properties: { pipelineId: { type: 'integer' }, jobId: { type: 'integer' } },
      required: ['pipelineId', 'jobId'],
    },
    coverage: { type: ['number', 'null'], description: "the average of its jobs' coverage (each job's latest attempt's; 2 decimals), as GitLab's; null when no job gave one" },
  },
  required: ['id', 'projectId', 'status', 'ref', 'sha', 'source', 'createdAt', 'startedAt', 'finishedAt'],
} as const;

/** src/views/pipeline-json.ts, the shape `gantry run --json` prints. */
const pipelineFields = pipelineSummarySchema.properties;

/** A job as the API shows it, within a pipeline or alone. */
export const jobSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    stage: { type: 'string' },
    status: { type: 'string', enum: [...JOB_STATUSES] },
    allowFailure: { type: 'boolean', description: 'whether a failure is allowed: allow_failure: true, or it failed with one of allowFailureExitCodes' },
    allowFailureExitCodes: { type: ['array', 'null'], items: { type: 'integer' }, description: 'allow_failure: exit_codes; null when not written so' },
    when: { type: 'string' },
    needs: { type: ['array', 'null'], items: { type: 'string' } },
    attempts: { type: 'integer' },
    exitCode: { type: ['integer', 'null'] },
    failureReason: { type: ['string', 'null'] },
    startedAt: isoOrNull,
    finishedAt: isoOrNull,
    scheduledAt: { ...isoOrNull, description: 'a scheduled (when: delayed) job: when it will be queued; null otherwise' },
    environment: { type: ['string', 'null'], description: 'the environment it deploys to (environment: name, variables expanded)' },
    coverage: { type: ['number', 'null'], description: "the percentage its latest attempt's log gave by the job's coverage: regex; null: none" },
    trigger: { type: 'boolean', description: 'a trigger job (trigger:): the server runs it and it makes a child pipeline' },
    downstream: {
      type: ['object', 'null'],
      description: "a trigger job's child pipeline (its newest, after a retry) and its status; null before it exists and for other jobs",
      properties: { pipelineId: { type: 'integer' }, status: { type: 'string', enum: [...PIPELINE_STATUSES] } },
      required: ['pipelineId', 'status'],
    },
    downstreamError: { type: ['string', 'null'], description: "why a trigger job's child pipeline could not be created (FILE:LINE:COLUMN: message, one per line)" },
  },
  required: ['id', 'name', 'stage', 'status', 'allowFailure', 'allowFailureExitCodes', 'when', 'attempts', 'exitCode', 'failureReason', 'startedAt', 'finishedAt'],
} as const;

export const pipelineSchema = {
  type: 'object',
  properties: {
    ...pipelineFields,
    variables: { type: 'object', additionalProperties: { type: 'string' } },
    children: {
      type: 'array',
      description: 'the pipelines its trigger jobs made, oldest first, with their status now',
      items: {
        type: 'object',
        properties: { pipelineId: { type: 'integer' }, jobId: { type: 'integer' }, status: { type: 'string', enum: [...PIPELINE_STATUSES] } },
        required: ['pipelineId', 'jobId', 'status'],
      },
    },
    jobs: {
      type: 'array',
      items: jobSchema,
    },
  },
  required: ['id', 'status', 'ref', 'sha', 'source', 'createdAt', 'startedAt', 'finishedAt', 'jobs'],
} as const;

export const pageOf = (items: object) =>
  ({
    type: 'object',
    properties: { items: { type: 'array', items }, next: { type: ['integer', 'null'] } },
    required: ['items', 'next'],
  }) as const;

/** The error answers a route may give, for the OpenAPI document. */
export function errors(...statuses: number[]): Record<number, typeof errorSchema> {
  return Object.fromEntries([401, ...statuses].map((s) => [s, errorSchema]));
}

