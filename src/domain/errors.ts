// Errors are values with stable codes. Codes are part of the public contract (CLI, API, docs/ERRORS.md,
// which a test keeps complete):
// never rename one, only add.

export const ERROR_CODES = {
  // pipeline compiler
  GANTRY_E_YAML_SYNTAX: 'the file is not valid YAML',
  GANTRY_E_PIPELINE_NOT_FOUND: 'no pipeline file',
  GANTRY_E_UNKNOWN_KEYWORD: 'a keyword Gantry does not know',
  GANTRY_E_INVALID_VALUE: 'a value of the wrong type or shape',
  GANTRY_E_NO_SCRIPT: 'a job without script',
  GANTRY_E_UNDEFINED_STAGE: 'a job in a stage that is not declared',
  GANTRY_E_NEEDS_UNKNOWN: 'needs names a job that does not exist',
  GANTRY_E_NEEDS_LATER_STAGE: 'needs names a job of a later stage',
  GANTRY_E_PIPELINE_CYCLE: 'needs form a cycle',
  GANTRY_E_EXTENDS_MISSING: 'extends names a job or template that does not exist',
  GANTRY_E_EXTENDS_CYCLE: 'extends form a cycle',
  GANTRY_E_REFERENCE_MISSING: '!reference names something that does not exist',
  GANTRY_E_INCLUDE: 'an include that cannot be read',
  GANTRY_E_RULE_SYNTAX: 'a malformed rules:if expression',
  GANTRY_E_BAD_DURATION: 'a duration that cannot be parsed',
  GANTRY_E_EMPTY_PIPELINE: 'no job would run',
  GANTRY_E_COMPILER_BUG: 'the pipeline compiler failed unexpectedly (a bug in Gantry)',
  // runtime
  GANTRY_E_NOT_A_REPOSITORY: 'not inside a git repository',
  GANTRY_E_USAGE: 'bad command-line usage',
  GANTRY_E_NOT_FOUND: 'no such object',
  GANTRY_E_ILLEGAL_TRANSITION: 'a state change the state machine forbids',
  GANTRY_E_STORE: 'the store failed',
  GANTRY_E_STORE_TOO_NEW: 'the database was written by a newer Gantry',
  GANTRY_E_BACKUP_WAITED: 'a garbage collection was still running when a backup stopped waiting for it',
  GANTRY_E_LOG: 'a log cannot be opened, read or written',
  GANTRY_E_WORKSPACE: 'a workspace could not be prepared',
  GANTRY_E_ARTIFACT_PATH: 'an artifact or cache path escapes the workspace',
  GANTRY_E_SANDBOX_UNAVAILABLE: 'the agent was asked for the sandbox on a host that cannot provide it',
  GANTRY_E_ISOLATION_CHECK_FAILED: "the agent's isolation check found a job could reach what the threat model forbids",
  // client
  GANTRY_E_UNREACHABLE: 'the Gantry server did not answer at all',
  // HTTP API (src/server/errors.ts maps each to a status)
  GANTRY_E_UNAUTHENTICATED: 'no token, or a token Gantry does not know',
  GANTRY_E_FORBIDDEN: 'the token may not do this',
  GANTRY_E_INVALID_REQUEST: 'a request that does not match its schema',
  GANTRY_E_CONFLICT: 'the resource already exists',
  GANTRY_E_PIPELINE_INVALID: 'the pipeline file of the commit is invalid',
  GANTRY_E_PIPELINE_FILTERED: 'workflow:rules decided that no pipeline runs',
  GANTRY_E_IDEMPOTENCY_MISMATCH: 'an Idempotency-Key reused with another request',
  GANTRY_E_REF_NOT_FOUND: 'the branch, tag or commit is not in the repository',
  GANTRY_E_GIT: 'the project repository could not be cloned or fetched',
  GANTRY_E_RANGE_NOT_SATISFIABLE: 'a Range outside the log',
  GANTRY_E_SECRETS: 'the secrets key cannot be read, or a value cannot be decrypted',
  GANTRY_E_TOO_LARGE: 'a log chunk or a blob over its size limit',
  GANTRY_E_BLOB_DIGEST_MISMATCH: 'the uploaded bytes do not hash to the blob name',
  GANTRY_E_BLOB_STORE: 'the object store (an S3-compatible bucket) refused a request or did not answer',
  GANTRY_E_WEBHOOK_SIGNATURE: "a webhook not signed with the project's webhook secret",
  GANTRY_E_WEBHOOK_PAYLOAD: 'a webhook whose headers or payload are not what its forge sends',
  GANTRY_E_SCHEDULE_CRON: 'a schedule cron expression that cannot be read or never fires',
  GANTRY_E_SCHEDULE_TIMEZONE: 'a schedule time zone that is not an IANA name',
  // overload (docs/API.md, "Overload and limits")
  GANTRY_E_RATE_LIMITED: "the caller's own rate (its token, its address, its sign-ins or its open streams) is spent; try again after Retry-After",
  GANTRY_E_OVERLOADED: 'the server is at its bound for this kind of request, or under pressure; try again after Retry-After',
  // people: users, passwords, sessions (docs/SECURITY.md, "People and sessions")
  GANTRY_E_SIGN_IN_FAILED: 'a wrong username or password (or a disabled account): one answer for all',
  GANTRY_E_SIGN_IN_LIMITED: 'too many failed sign-ins for this user or from this address; try again after Retry-After',
  GANTRY_E_CSRF: 'a write signed in by session cookie without a valid X-CSRF-Token header',
  GANTRY_E_PASSWORD_TOO_SHORT: 'a password shorter than the minimum length',
  // people: single sign-on (docs/SECURITY.md, "Single sign-on")
  GANTRY_E_SSO_CONFIG: 'the single sign-on settings (GANTRY_OIDC_*) are incomplete or malformed',
  GANTRY_E_SSO_FAILED: 'a single sign-on that could not be completed: no or another flow, a provider error, a token that does not verify',
  GANTRY_E_SSO_UNAVAILABLE: 'the single sign-on provider could not be reached',
  GANTRY_E_SSO_REFUSED: 'the provider vouched for someone Gantry does not let in: an email domain not allowed, an unverified email, a disabled user',
  // people: roles and personal access tokens
  GANTRY_E_TOKEN_EXPIRED: 'a personal access token past its expiry date',
  GANTRY_E_LAST_MAINTAINER: "a change that would leave a project without a maintainer, by someone who is not an admin",
  // people: protected refs
  GANTRY_E_PROTECTED_REF: 'starting, retrying or playing a pipeline of a protected ref needs maintainer',
  // gates: fork pipelines and protected environments waiting for approval
  GANTRY_E_NOT_WAITING_FOR_APPROVAL: 'approving or rejecting a pipeline or job that is not waiting for approval',
  GANTRY_E_SELF_APPROVAL: 'approving a deployment of a pipeline the approver triggered',
  GANTRY_E_ALREADY_APPROVED: 'a second approval of the same deployment by the same person',
  // job identity tokens
  GANTRY_E_ID_TOKEN: 'a job identity token or its signing key cannot be made',
  // agent protocol (docs/PROTOCOL.md §16)
  GANTRY_E_AGENT_DEREGISTERED: 'the agent token belongs to an agent that was deregistered',
  GANTRY_E_AGENT_INCOMPATIBLE: 'the agent speaks a protocol version the server does not',
  GANTRY_E_SESSION_REPLACED: 'another process of this agent opened a newer session',
  GANTRY_E_OFFER_EXPIRED: 'the offer was given to another agent or its attempt was canceled',
  GANTRY_E_ATTEMPT_NOT_STARTED: 'a write for an attempt that has not been started',
  GANTRY_E_ATTEMPT_FENCED: 'the attempt token is not the current one, or the server ended the attempt',
  GANTRY_E_LOG_GAP: 'a log range starts after the bytes the server has',
  GANTRY_E_LOG_INCOMPLETE: 'a completion before every log byte arrived',
  GANTRY_E_ARTIFACT_EXPIRED: 'the artifacts asked for have expired',
  GANTRY_E_TEST_REPORT_INVALID: "an agent's test report whose counts do not add up, or another report for the same attempt",
  GANTRY_E_DOTENV_INVALID: "an agent's dotenv variables that break GitLab's dotenv rules or limits",
  // retention
  GANTRY_E_LOG_EXPIRED: "the log asked for was deleted by log retention (its pipeline is kept)",
  GANTRY_E_INTERNAL: 'an unexpected server error (a bug)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface SourceLocation {
  file: string;
  line: number; // 1-based
  column: number; // 1-based
}

export class GantryError extends Error {
  override readonly name = 'GantryError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly location?: SourceLocation,
  ) {
    super(message);
  }
}

export function isGantryError(e: unknown): e is GantryError {
  return e instanceof GantryError;
}
