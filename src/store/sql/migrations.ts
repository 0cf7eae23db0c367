// The schema, versioned in code. A migration is applied once, in a transaction, and recorded in
// `schema_migrations`; never edit a released migration, add the next one. Each carries its SQL
// per dialect because DDL is where the two databases differ (identity columns); the queries of
// sql-store.ts are the same for both.
//
// Portable choices: integer ids that fit a BIGINT, timestamps as epoch milliseconds (BIGINT),
// JSON as TEXT (the store parses it; nothing queries inside it), statuses as TEXT checked by the
// state machines of src/domain/status.ts in every UPDATE rather than by the schema.

import type { DialectName } from './dialect.js';

export interface Migration {
  id: number;
  name: string;
  sql: Record<DialectName, string>;
}

const INITIAL_TABLES = (id: string, idAuto: string): string => `
CREATE TABLE projects (
  id ${idAuto},
  name TEXT NOT NULL UNIQUE,
  git_url TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE pipelines (
  id ${idAuto},
  project_id BIGINT NOT NULL REFERENCES projects(id),
  status TEXT NOT NULL,
  ref TEXT NOT NULL,
  sha TEXT NOT NULL,
  source TEXT NOT NULL,
  variables TEXT NOT NULL,
  file_variables TEXT NOT NULL,
  pipeline_file TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT
);
-- listPipelines pages newest first by id under an optional filter; each index ends in id so a
-- page is a range scan that stops after limit+1 rows.
CREATE INDEX pipelines_project_id ON pipelines (project_id, id);
CREATE INDEX pipelines_project_status_id ON pipelines (project_id, status, id);
CREATE INDEX pipelines_project_ref_id ON pipelines (project_id, ref, id);
CREATE INDEX pipelines_status_id ON pipelines (status, id);
CREATE INDEX pipelines_ref_id ON pipelines (ref, id);
CREATE INDEX pipelines_source_id ON pipelines (source, id);

CREATE TABLE jobs (
  id ${id},
  pipeline_id BIGINT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
  -- definition order within the pipeline (the compiler's job order)
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  stage TEXT NOT NULL,
  stage_index INTEGER NOT NULL,
  status TEXT NOT NULL,
  spec TEXT NOT NULL,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER,
  failure_reason TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  UNIQUE (pipeline_id, name)
);
CREATE INDEX jobs_pipeline_order ON jobs (pipeline_id, stage_index, position);

CREATE TABLE attempts (
  id ${id},
  job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  status TEXT NOT NULL,
  agent TEXT,
  lease_expires_at BIGINT,
  queued_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  exit_code INTEGER,
  failure_reason TEXT,
  -- bytes of the attempt's log known durable in the log store: the log index
  log_bytes BIGINT NOT NULL DEFAULT 0,
  UNIQUE (job_id, number)
);
`;

// The server's tables. Tokens are looked up by hash on every request (UNIQUE gives the index).
// Variables hold only ciphertext; `masked` is an INTEGER 0/1 (SQLite has no BOOLEAN). An
// idempotency key is claimed by inserting its row: the primary key (project_id, key) is what
// makes the claim atomic across connections and server instances.
const SERVER_TABLES = (idAuto: string): string => `
CREATE TABLE tokens (
  id ${idAuto},
  hash TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT
);
CREATE INDEX tokens_project ON tokens (project_id);
CREATE INDEX tokens_kind ON tokens (kind);

CREATE TABLE project_variables (
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  nonce TEXT NOT NULL,
  masked INTEGER NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (project_id, key)
);

CREATE TABLE idempotency_keys (
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  pipeline_id BIGINT REFERENCES pipelines(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (project_id, key)
);
CREATE INDEX idempotency_keys_pipeline ON idempotency_keys (pipeline_id);
`;

// The fleet: agents, the attempt columns of the agent protocol (docs/PROTOCOL.md §14), log chunks
// of running attempts, blobs, artifacts and caches, and the scheduler's per-project settings.
// Attempts copy the few job facts the take orders and limits by (project, pipeline, priority,
// resource group, tag key), so taking work reads one table. `tag_key` is NULL for attempts
// `gantry run` executes itself; only rows with a tag key are offered to agents.
const FLEET_TABLES = (idAuto: string, bytes: string): string => `
CREATE TABLE agents (
  id ${idAuto},
  name TEXT NOT NULL,
  tags TEXT NOT NULL,
  concurrency INTEGER NOT NULL,
  version TEXT NOT NULL,
  platform TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  session_id TEXT,
  session_started_at BIGINT,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT,
  deregistered_at BIGINT
);

ALTER TABLE pipelines ADD COLUMN runs_on TEXT NOT NULL DEFAULT 'local';
-- the predefined CI_* variables of the pipeline (commit facts read at trigger time), for the agents
ALTER TABLE pipelines ADD COLUMN predefined_variables TEXT NOT NULL DEFAULT '{}';
CREATE INDEX pipelines_runs_on_status ON pipelines (runs_on, status);

ALTER TABLE projects ADD COLUMN max_running INTEGER;
ALTER TABLE projects ADD COLUMN max_running_per_pipeline INTEGER;
ALTER TABLE projects ADD COLUMN auto_cancel INTEGER NOT NULL DEFAULT 1;

ALTER TABLE attempts ADD COLUMN agent_id BIGINT REFERENCES agents(id);
ALTER TABLE attempts ADD COLUMN token_hash TEXT;
ALTER TABLE attempts ADD COLUMN offered_until BIGINT;
ALTER TABLE attempts ADD COLUMN cancel_requested_at BIGINT;
ALTER TABLE attempts ADD COLUMN deadline_at BIGINT;
ALTER TABLE attempts ADD COLUMN log_received BIGINT NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN tag_key TEXT;
ALTER TABLE attempts ADD COLUMN project_id BIGINT;
ALTER TABLE attempts ADD COLUMN pipeline_id BIGINT;
ALTER TABLE attempts ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN resource_group TEXT;
CREATE INDEX attempts_take ON attempts (status, project_id, tag_key, priority, id);
CREATE INDEX attempts_lease ON attempts (status, lease_expires_at);
CREATE INDEX attempts_offered ON attempts (status, offered_until);
CREATE INDEX attempts_tag_key ON attempts (status, tag_key);
CREATE INDEX attempts_agent ON attempts (agent_id, status);

CREATE TABLE log_chunks (
  attempt_id BIGINT NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
  start_offset BIGINT NOT NULL,
  end_offset BIGINT NOT NULL,
  produced_at BIGINT NOT NULL,
  data ${bytes},
  PRIMARY KEY (attempt_id, start_offset)
);

CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE artifacts (
  id ${idAuto},
  attempt_id BIGINT NOT NULL UNIQUE REFERENCES attempts(id) ON DELETE CASCADE,
  job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  blob_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
  size BIGINT NOT NULL,
  files INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT
);
CREATE INDEX artifacts_job ON artifacts (job_id);
CREATE INDEX artifacts_expires ON artifacts (expires_at);

CREATE TABLE caches (
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  blob_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
  size BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (project_id, key)
);
`;

// Git triggers: webhook secrets (ciphertext only, one per project and provider), the per-project
// branch and tag filters (JSON lists of globs, NULL: all), the trust of a pipeline (0 for a pull
// request from a fork), and the webhook deliveries. A delivery is recorded by inserting its row:
// UNIQUE (project_id, provider, delivery_id) is what makes ten concurrent copies one delivery.
// `event_json` is the normalized event (src/domain/git-event.ts), never the forge's payload.
// `due_at` serves two states: when a queued delivery may be tried, and until when a processing
// one is claimed (a claim that lapses is taken again: its instance died).
const TRIGGER_TABLES = (idAuto: string): string => `
ALTER TABLE pipelines ADD COLUMN trusted INTEGER NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN branch_filter TEXT;
ALTER TABLE projects ADD COLUMN tag_filter TEXT;

CREATE TABLE webhook_secrets (
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  nonce TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (project_id, provider)
);

CREATE TABLE webhook_deliveries (
  id ${idAuto},
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  event TEXT NOT NULL,
  event_json TEXT,
  status TEXT NOT NULL,
  reason TEXT,
  pipeline_id BIGINT REFERENCES pipelines(id) ON DELETE SET NULL,
  tries INTEGER NOT NULL DEFAULT 0,
  due_at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  finished_at BIGINT,
  UNIQUE (project_id, provider, delivery_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, due_at, id);
CREATE INDEX webhook_deliveries_project ON webhook_deliveries (project_id, id);
CREATE INDEX webhook_deliveries_pipeline ON webhook_deliveries (pipeline_id);
`;

// Schedules, forge status reports and trigger tokens (issue 4, points 4-6).
//
// A schedule's next firing is `next_run_at`; an instance claims a firing by moving it forward with
// a compare-and-set and, in the same transaction, inserting the firing into `schedule_firings`
// (primary key (schedule, time)), claimed for a while. The firing's pipeline is created under the
// idempotency key derived from (schedule, time); a firing whose claim runs out before it records
// its pipeline (a crash) is claimed again by any instance and redone under the same key, so it is
// neither lost nor doubled. `forge_statuses` is the outbox of commit statuses: one row per
// pipeline, written in the transaction that moves the pipeline, holding its latest status and a
// version; a worker sends the latest version and records which version it sent.
const TRIGGERS_TABLES = (idAuto: string): string => `
CREATE TABLE schedules (
  id ${idAuto},
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  description TEXT,
  cron TEXT NOT NULL,
  timezone TEXT NOT NULL,
  ref TEXT NOT NULL,
  variables TEXT NOT NULL,
  active INTEGER NOT NULL,
  -- NULL while inactive: an inactive schedule is never due
  next_run_at BIGINT,
  last_fire_at BIGINT,
  last_pipeline_id BIGINT,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX schedules_project ON schedules (project_id, id);
CREATE INDEX schedules_due ON schedules (next_run_at);

CREATE TABLE schedule_firings (
  schedule_id BIGINT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
  fire_at BIGINT NOT NULL,
  -- claimed: an instance is making its pipeline until claimed_until; created; failed (error says why)
  status TEXT NOT NULL,
  claimed_until BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1,
  pipeline_id BIGINT,
  error TEXT,
  PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX schedule_firings_claimed ON schedule_firings (status, claimed_until);

CREATE TABLE forge_configs (
  project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  base_url TEXT NOT NULL,
  repository TEXT NOT NULL,
  context TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  nonce TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE forge_statuses (
  pipeline_id BIGINT PRIMARY KEY REFERENCES pipelines(id) ON DELETE CASCADE,
  -- the pipeline's latest status, and how many times it changed since the row was made
  status TEXT NOT NULL,
  version INTEGER NOT NULL,
  sent_version INTEGER NOT NULL DEFAULT 0,
  -- the forge state last delivered (pending, success, ...): an unchanged state is not sent again
  sent_state TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  -- when to try next; NULL when the latest version was delivered (or given up)
  next_at BIGINT,
  claimed_until BIGINT NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX forge_statuses_due ON forge_statuses (next_at);

ALTER TABLE tokens ADD COLUMN description TEXT;
`;

const CACHE_USE = `
ALTER TABLE caches ADD COLUMN used_at BIGINT NOT NULL DEFAULT 0;
UPDATE caches SET used_at = updated_at;
CREATE INDEX caches_used ON caches (used_at);
`;

// Job isolation (src/domain/isolation.ts). An agent's level, limits and last isolation check as it
// reported them at its latest session (JSON, never searched: the take reads the agent's own row).
// A project's settings are read by the take with the project's limits, so a change applies to
// jobs already queued. `job_limits` NULL: no limit of any kind (each agent's own).
const ISOLATION = `
ALTER TABLE agents ADD COLUMN isolation TEXT NOT NULL DEFAULT 'none';
ALTER TABLE agents ADD COLUMN isolation_limits TEXT;
ALTER TABLE agents ADD COLUMN isolation_check TEXT;
ALTER TABLE projects ADD COLUMN require_sandbox INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN network TEXT NOT NULL DEFAULT 'full';
ALTER TABLE projects ADD COLUMN fork_network TEXT NOT NULL DEFAULT 'full';
ALTER TABLE projects ADD COLUMN job_limits TEXT;
`;

// People (src/store/users.ts). A password only ever as its scrypt hash (src/server/passwords.ts), a
// session only as the SHA-256 of its id. Usernames are lowercase, so UNIQUE is case-insensitive in
// effect. Sign-in attempts are rows per subject (`user:NAME`, `addr:IP`) counted over a sliding
// window by (subject, at); they are few (at most the limit per subject and window: a refused
// attempt writes nothing) and pruned hourly.
const PEOPLE = (idAuto: string): string => `
CREATE TABLE users (
  id ${idAuto},
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  admin INTEGER NOT NULL DEFAULT 0,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE sessions (
  hash TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE sign_in_attempts (
  id ${idAuto},
  subject TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_subject_at ON sign_in_attempts (subject, at);
CREATE INDEX sign_in_attempts_at ON sign_in_attempts (at);
`;

// Roles and personal access tokens (src/store/users.ts, src/server/policy.ts). A member's role is one
// row per (project, user); a personal token is a row of `tokens` (kind `personal`) that names its
// user and how it is narrowed: `projects` a JSON array of project ids (NULL: every project its user
// may see), `read_only` 0/1, `expires_at` (NULL: never). Tokens are found by hash on every request;
// a user's tokens are listed by user_id.
const ROLES_AND_PERSONAL_TOKENS = `
ALTER TABLE tokens ADD COLUMN user_id BIGINT REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN projects TEXT;
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE project_members (
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);
`;

// Protected refs and variables, and the audit log (docs/SECURITY.md). A project's protected branch
// and tag globs are JSON arrays on its row (read with it wherever it is: the offer, the trigger); a
// pipeline records whether its ref was protected when it was made (`protected_ref` 0/1); a variable
// whether it is only for protected refs (`protected` 0/1). Audit entries keep no foreign key: they
// outlive what they name. Read newest first by project (project_id, id) or all (the primary key),
// pruned by age (at).
const PROTECTED_AND_AUDIT = (idAuto: string): string => `
ALTER TABLE projects ADD COLUMN protected_branches TEXT NOT NULL DEFAULT '[]';
ALTER TABLE projects ADD COLUMN protected_tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE pipelines ADD COLUMN protected_ref INTEGER NOT NULL DEFAULT 0;
ALTER TABLE project_variables ADD COLUMN protected INTEGER NOT NULL DEFAULT 0;

CREATE TABLE audit_log (
  id ${idAuto},
  at BIGINT NOT NULL,
  project_id BIGINT,
  action TEXT NOT NULL,
  actor TEXT NOT NULL,
  target TEXT NOT NULL,
  address TEXT,
  details TEXT
);
CREATE INDEX audit_log_project ON audit_log (project_id, id);
CREATE INDEX audit_log_at ON audit_log (at);
`;

// Job identity tokens (docs/SECURITY.md, "Job identity tokens"). A key's private half only ever
// sealed with secrets.key (as variables are), so a copy of the database signs nothing. The
// generation is the primary key: of instances racing to rotate, one insert of generation N + 1
// wins and the others find it. last_exp is the latest `exp` of a token the key signed (ms),
// written before the token is: a key is published while it signs or while a token of it lives.
const ID_TOKENS = `
ALTER TABLE projects ADD COLUMN fork_id_tokens INTEGER NOT NULL DEFAULT 0;
CREATE TABLE id_token_keys (
  generation BIGINT PRIMARY KEY,
  kid TEXT NOT NULL UNIQUE,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  private_ciphertext TEXT NOT NULL,
  private_nonce TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_exp BIGINT NOT NULL DEFAULT 0
);
`;

// Gates (docs/API.md, "Approvals"; SECURITY.md). A fork pipeline that waits says why
// (approval_reason) and, once approved, by whom; its author (the forge's login and provider) is kept
// on the pipeline so "first-time" is one indexed look-up. fork_authors are the authors a maintainer
// approved "always". environments are the protected ones (a project's, by name); a job records its
// environment's name beside its spec so a project's deployments are one indexed read. job_approvals
// holds each person's decision on a waiting deployment, one row per approver (tokens count as their
// own approver), so two approvals of one person count once by the primary key.
const GATES = `
ALTER TABLE projects ADD COLUMN fork_approval TEXT NOT NULL DEFAULT 'all';
ALTER TABLE pipelines ADD COLUMN approval_reason TEXT;
ALTER TABLE pipelines ADD COLUMN approved_by TEXT;
ALTER TABLE pipelines ADD COLUMN approved_at BIGINT;
ALTER TABLE pipelines ADD COLUMN fork_provider TEXT;
ALTER TABLE pipelines ADD COLUMN fork_author TEXT;
CREATE INDEX pipelines_fork_author ON pipelines (project_id, fork_author) WHERE fork_author IS NOT NULL;
CREATE TABLE fork_authors (
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  author TEXT NOT NULL,
  approved_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (project_id, provider, author)
);
CREATE TABLE environments (
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  required_approvals INTEGER NOT NULL,
  deployers TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (project_id, name)
);
ALTER TABLE jobs ADD COLUMN environment TEXT;
CREATE INDEX jobs_environment ON jobs (environment, id) WHERE environment IS NOT NULL;
CREATE TABLE job_approvals (
  job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  approver TEXT NOT NULL,
  approver_name TEXT NOT NULL,
  decision TEXT NOT NULL,
  comment TEXT,
  at BIGINT NOT NULL,
  PRIMARY KEY (job_id, approver)
);
`;

// Single sign-on (src/store/sso.ts, docs/SECURITY.md "Single sign-on"). A flow is a browser's
// sign-in under way, keyed by the SHA-256 of its cookie's random id, deleted when taken (once) or
// when it expires (minutes). An identity links a provider's account (issuer + subject: the one
// thing an OpenID provider promises is stable) to a user; the email is kept to be read, never to
// find anyone. `granted_by` says whether a membership was given by the group mapping (`sso`, which
// takes it away again) or by a person (`manual`, every membership before this); `admin_by_sso`
// the same of the admin flag. A user made by single sign-on has the password hash '' (none).
const SSO = `
CREATE TABLE sso_flows (
  hash TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  nonce TEXT NOT NULL,
  code_verifier TEXT NOT NULL,
  next TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sso_flows_expires ON sso_flows (expires_at);
CREATE TABLE user_identities (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  email TEXT,
  created_at BIGINT NOT NULL,
  last_sign_in_at BIGINT NOT NULL,
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
ALTER TABLE project_members ADD COLUMN granted_by TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE users ADD COLUMN admin_by_sso INTEGER NOT NULL DEFAULT 0;
`;

// Compute minutes (issue 18). Amounts are compute milliseconds: an attempt's wall-clock
// milliseconds times its pool's cost factor, rounded to whole ms, so sums are exact integers on
// both stores. A cost factor is kept in thousandths (`cost_factor_milli`, 1000 = a factor of 1)
// for the same reason.
//
// - `pools`: a pool's price; a pool an agent names exists without a row (factor 1) until an
//   admin prices it.
// - `agents.pool`: the pool the agent said it belongs to at its latest session.
// - `attempts.pool`, `attempts.cost_factor_milli`: where an attempt was offered and the price in
//   force then; the attempt is billed at that price whatever the pool costs later.
// - `attempts.reserved_until`: until when the ledger holds a reservation for a running attempt
//   (NULL: nothing reserved: unlimited project or not yet dispatched).
// - `projects.monthly_minutes` (NULL: unlimited), `projects.quota_hard_limit` (1: a running job
//   is stopped with `quota_exceeded` when its project runs out), `projects.share_weight`,
//   `projects.share_pass` (fair share's virtual time: stride scheduling, advanced by
//   1_000_000 / weight per offer), `projects.urgent_jobs` (JSON list of job-name globs a
//   maintainer marks urgent: first within the project's share).
// - `compute_ledger`: append-only. `kind` is allowance | grant | reserve | consume | release |
//   adjustment; `amount_ms` is never negative except for an adjustment. A balance is only ever a
//   sum of entries. `month` is the UTC month ('YYYY-MM') of `created_at`. `idempotency_key` is
//   derived from the entry's cause (`consume:<attempt>`, `reserve:<attempt>:<n>`,
//   `allowance:<project>:<month>`...), so a cause reported twice writes once.
const COMPUTE_MINUTES = (idAuto: string): string => `
CREATE TABLE pools (
  name TEXT PRIMARY KEY,
  cost_factor_milli INTEGER NOT NULL,
  updated_at BIGINT NOT NULL
);
ALTER TABLE agents ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
ALTER TABLE attempts ADD COLUMN pool TEXT;
ALTER TABLE attempts ADD COLUMN cost_factor_milli INTEGER;
ALTER TABLE attempts ADD COLUMN reserved_until BIGINT;
ALTER TABLE projects ADD COLUMN monthly_minutes INTEGER;
ALTER TABLE projects ADD COLUMN quota_hard_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN share_weight INTEGER NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN share_pass BIGINT NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN urgent_jobs TEXT NOT NULL DEFAULT '[]';
CREATE TABLE compute_ledger (
  id ${idAuto},
  project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  month TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('allowance', 'grant', 'reserve', 'consume', 'release', 'adjustment')),
  amount_ms BIGINT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  attempt_id BIGINT REFERENCES attempts(id) ON DELETE SET NULL,
  pool TEXT,
  cost_factor_milli INTEGER,
  duration_ms BIGINT,
  reason TEXT,
  actor TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX compute_ledger_project_month ON compute_ledger (project_id, month, kind);
CREATE INDEX compute_ledger_month ON compute_ledger (month, created_at);
CREATE INDEX compute_ledger_attempt ON compute_ledger (attempt_id) WHERE attempt_id IS NOT NULL;
`;

// Retention and garbage collection (docs/RUNNING.md, "Retention and garbage collection").
//
// - `projects.retention_*`, `artifacts_expire_in`, `keep_latest_artifacts`: a project's own
//   settings, NULL for the instance's (GANTRY_RETENTION_*). `artifacts_expire_in` is the text a
//   maintainer wrote (GitLab's syntax or `never`), checked when written.
// - `pipelines.logs_expired_at`, `attempts.log_expired_at`: when log retention took the log bytes
//   (the attempt's log_object is NULL and its chunks are gone from then on; reading it is 410).
//   The partial index finds the pipelines whose logs are still there, oldest first, without
//   walking those already done.
// - `artifact_expiries`: what an expired artifact record was, kept when the record and its blob
//   go, so a download keeps answering 410 with the artifact's code rather than 404; gone with its job.
// - `gc_runs`: one row per collection. A run holds its row's lease (renewed as it goes); a new run
//   starts only when no row is open with a lease in the future, decided under the `gc` lock (an
//   advisory lock on PostgreSQL), so instances collect one at a time.
// - `attempts_log_object`: the mark of the log objects: which objects attempts still name.
const RETENTION = (idAuto: string): string => `
ALTER TABLE projects ADD COLUMN retention_pipeline_days INTEGER;
ALTER TABLE projects ADD COLUMN retention_keep_per_ref INTEGER;
ALTER TABLE projects ADD COLUMN retention_log_days INTEGER;
ALTER TABLE projects ADD COLUMN artifacts_expire_in TEXT;
ALTER TABLE projects ADD COLUMN keep_latest_artifacts INTEGER;
ALTER TABLE pipelines ADD COLUMN logs_expired_at BIGINT;
ALTER TABLE attempts ADD COLUMN log_expired_at BIGINT;
CREATE INDEX pipelines_project_created ON pipelines (project_id, created_at);
CREATE INDEX pipelines_logs_kept ON pipelines (project_id, created_at) WHERE logs_expired_at IS NULL;
CREATE INDEX attempts_log_object ON attempts (log_object) WHERE log_object IS NOT NULL;
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);
CREATE TABLE artifact_expiries (
  attempt_id BIGINT PRIMARY KEY REFERENCES attempts(id) ON DELETE CASCADE,
  job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  size BIGINT NOT NULL,
  files INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  expired_at BIGINT NOT NULL
);
CREATE INDEX artifact_expiries_job ON artifact_expiries (job_id);
CREATE TABLE gc_runs (
  id ${idAuto},
  started_by TEXT NOT NULL,
  holder TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  lease_until BIGINT NOT NULL,
  finished_at BIGINT,
  summary TEXT,
  error TEXT
);
`;

// Test reports (docs/PIPELINE.md, "Test reports"): one row per attempt that reported, its counts
// as columns and its listed cases as one compact JSON array (src/domain/test-reports.ts). JSON
// rather than a row per case: a pipeline's tests are always read whole (the view sorts failures
// first and marks flaky ones across attempts), and one TEXT per attempt reads 10,000 cases in a
// few milliseconds where 10,000 rows cost an order more, nothing queries inside a case, and a
// report is written once. The pipeline and job columns lead indexes for the two reads (and, on
// PostgreSQL, for the cascading deletes retention makes).
const TEST_REPORTS = `
CREATE TABLE test_reports (
  attempt_id BIGINT PRIMARY KEY REFERENCES attempts(id) ON DELETE CASCADE,
  job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  pipeline_id BIGINT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
  total INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  errored INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  -- the sum of the cases' durations, whole milliseconds
  duration_ms BIGINT NOT NULL,
  -- cases counted above but not in cases (past the limits)
  unlisted INTEGER NOT NULL,
  files INTEGER NOT NULL,
  cases TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX test_reports_pipeline ON test_reports (pipeline_id);
CREATE INDEX test_reports_job ON test_reports (job_id);
`;

// Coverage is a column of the attempt it was read from (a job's is its latest attempt's, a
// pipeline's the average of its jobs', computed when read). Dotenv variables are rows of the
// attempt that wrote them, in file order: the next jobs read them by the attempts their
// dependencies ended with. Both go with their pipeline by the attempts' cascade.
// A child pipeline names its parent and the trigger job that made it. No foreign keys: retention
// deletes a parent and its children by age, in whatever order, and a child outliving its parent
// by a moment must not block that. A trigger job (`bridge`) is the server's to run: the partial
// index is the downstream runner's work list (its open trigger jobs), small whatever the jobs table.
const PARENT_CHILD = `
ALTER TABLE pipelines ADD COLUMN parent_pipeline_id BIGINT;
ALTER TABLE pipelines ADD COLUMN parent_job_id BIGINT;
ALTER TABLE jobs ADD COLUMN bridge INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN downstream_error TEXT;
CREATE INDEX pipelines_parent ON pipelines (parent_pipeline_id) WHERE parent_pipeline_id IS NOT NULL;
CREATE INDEX pipelines_parent_job ON pipelines (parent_job_id) WHERE parent_job_id IS NOT NULL;
CREATE INDEX jobs_open_bridges ON jobs (id) WHERE bridge = 1 AND status IN ('pending', 'running');
`;

const COVERAGE_BADGES_DOTENV = (real: string): string => `
ALTER TABLE attempts ADD COLUMN coverage ${real};
ALTER TABLE projects ADD COLUMN public_badges INTEGER NOT NULL DEFAULT 0;
CREATE TABLE dotenv_variables (
  attempt_id BIGINT NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
  job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  pipeline_id BIGINT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (attempt_id, key)
);
CREATE INDEX dotenv_variables_job ON dotenv_variables (job_id);
CREATE INDEX dotenv_variables_pipeline ON dotenv_variables (pipeline_id);
`;

// A delayed job (`when: delayed`) waits `scheduled` until its time, kept in the store so that any
// instance promotes it when due; the partial index is the promoter's work list, ordered by time.
const DELAYED_JOBS = `
ALTER TABLE jobs ADD COLUMN scheduled_at BIGINT;
CREATE INDEX jobs_scheduled_due ON jobs (scheduled_at) WHERE status = 'scheduled';
`;

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'initial schema',
    sql: {
      // INTEGER PRIMARY KEY is SQLite's rowid: the cheapest key there is. AUTOINCREMENT on the
      // tables whose ids people see (URLs, cursors) so an id is never reused after a delete.
      sqlite: INITIAL_TABLES('INTEGER PRIMARY KEY', 'INTEGER PRIMARY KEY AUTOINCREMENT'),
      // Identity columns are backed by sequences, which never hand out a value twice (not even
      // after a delete or a rolled-back insert), so every table gets SQLite's AUTOINCREMENT
      // guarantee. BY DEFAULT rather than ALWAYS so an export can be loaded back with its ids.
      // Every foreign key column leads an index (PostgreSQL does not create them): projects via
      // pipelines_project_id, pipelines via UNIQUE (pipeline_id, name), jobs via UNIQUE (job_id,
      // number); a cascading delete and the joins of getPipeline use them.
      postgres: INITIAL_TABLES(
        'BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY',
        'BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY',
      ),
    },
  },
  {
    id: 2,
    name: 'server: tokens, project variables, idempotency keys',
    sql: {
      sqlite: SERVER_TABLES('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: SERVER_TABLES('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'),
    },
  },
  {
    id: 3,
    name: 'fleet: agents, the agent protocol, log chunks, blobs, artifacts, caches, project limits',
    sql: {
      sqlite: FLEET_TABLES('INTEGER PRIMARY KEY AUTOINCREMENT', 'BLOB'),
      postgres: FLEET_TABLES('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY', 'BYTEA'),
    },
  },
  {
    id: 4,
    name: 'git triggers: webhook secrets and deliveries, ref filters, pipeline trust',
    sql: {
      sqlite: TRIGGER_TABLES('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: TRIGGER_TABLES('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'),
    },
  },
  {
    id: 5,
    name: 'schedules and their firings, forge configurations and the commit status outbox, trigger token descriptions',
    sql: {
      sqlite: TRIGGERS_TABLES('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: TRIGGERS_TABLES('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'),
    },
  },
  {
    id: 6,
    name: 'logs: the compacted object of a finished attempt',
    sql: {
      // The SHA-256 of the attempt's log object in the blob store once its chunks are compacted
      // (docs/LOGS.md). NULL while the log lives in log_chunks. No index: it is read with the
      // attempt row, never searched.
      sqlite: 'ALTER TABLE attempts ADD COLUMN log_object TEXT;',
      postgres: 'ALTER TABLE attempts ADD COLUMN log_object TEXT;',
    },
  },
  // Id 7 belongs to a branch merged separately (ui); keep this list in id order.
  {
    id: 8,
    name: 'caches: when each was last restored, so unused ones expire',
    sql: {
      // Rows of before keep their last save as their last use.
      sqlite: CACHE_USE,
      postgres: CACHE_USE,
    },
  },
  {
    id: 9,
    name: 'pipelines: who or what triggered each',
    sql: {
      // JSON (src/domain/triggered-by.ts), shown with the pipeline, never searched. NULL for the
      // pipelines made before it was recorded, and for a push that named no one.
      sqlite: 'ALTER TABLE pipelines ADD COLUMN triggered_by TEXT;',
      postgres: 'ALTER TABLE pipelines ADD COLUMN triggered_by TEXT;',
    },
  },
  {
    id: 10,
    name: 'logs: live chunks compressed with lz4 on PostgreSQL',
    sql: {
      sqlite: 'SELECT 1;',
      // PostgreSQL compresses a bytea over 2 KB with pglz by default: on every log upload, in the
      // append's transaction, at tens of MB/s (the logs bench: most of a group commit's INSERT).
      // lz4 (PostgreSQL 14+, where built with it) does the same work several times faster. The
      // rows live only until the attempt's log is compacted, so space matters less than the
      // upload's time. Where lz4 is not there the table keeps pglz.
      postgres: `DO $$ BEGIN ALTER TABLE log_chunks ALTER COLUMN data SET COMPRESSION lz4; EXCEPTION WHEN OTHERS THEN NULL; END $$;`,
    },
  },
  {
    id: 11,
    name: "isolation: agents' level, limits and last check; projects' sandbox requirement, networks and job limits",
    sql: { sqlite: ISOLATION, postgres: ISOLATION },
  },
  {
    id: 12,
    name: 'people: users, web UI sessions, sign-in attempts',
    sql: {
      sqlite: PEOPLE('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: PEOPLE('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'),
    },
  },
  {
    id: 13,
    name: 'people: project members with roles, personal access tokens',
    sql: { sqlite: ROLES_AND_PERSONAL_TOKENS, postgres: ROLES_AND_PERSONAL_TOKENS },
  },
  {
    id: 14,
    name: 'people: protected refs and variables, the audit log',
    sql: {
      sqlite: PROTECTED_AND_AUDIT('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: PROTECTED_AND_AUDIT('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'),
    },
  },
  {
    id: 15,
    name: "job identity tokens: the signing keys, projects' setting for forks",
    sql: { sqlite: ID_TOKENS, postgres: ID_TOKENS },
  },
  {
    id: 16,
    name: 'gates: approvals of fork pipelines, protected environments and their approvals',
    sql: { sqlite: GATES, postgres: GATES },
  },
  {
    id: 17,
    name: 'single sign-on: sign-ins under way, account links, roles given by the group mapping',
    sql: { sqlite: SSO, postgres: SSO },
  },
  {
    id: 18,
    name: 'compute minutes: pools and their prices, quotas, the ledger, weighted fair share',
    sql: {
      sqlite: COMPUTE_MINUTES('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: COMPUTE_MINUTES('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'),
    },
  },
  {
    id: 19,
    name: 'retention: per-project settings, expired logs and artifacts, garbage collection runs',
    sql: {
      sqlite: RETENTION('INTEGER PRIMARY KEY AUTOINCREMENT'),
      postgres: RETENTION('BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'),
    },
  },
  {
    id: 20,
    name: 'test reports: the JUnit cases of each attempt',
    sql: { sqlite: TEST_REPORTS, postgres: TEST_REPORTS },
  },
  {
    id: 21,
    name: "coverage per attempt, projects' public badges, dotenv report variables per attempt",
    sql: { sqlite: COVERAGE_BADGES_DOTENV('REAL'), postgres: COVERAGE_BADGES_DOTENV('DOUBLE PRECISION') },
  },
  {
    id: 22,
    name: 'parent-child pipelines: a pipeline\'s parent pipeline and trigger job, trigger jobs and why their child was not created',
    sql: { sqlite: PARENT_CHILD, postgres: PARENT_CHILD },
  },
  {
    id: 23,
    name: 'delayed jobs: when a scheduled job is due',
    sql: { sqlite: DELAYED_JOBS, postgres: DELAYED_JOBS },
  },
];

export const LATEST_MIGRATION = Math.max(...MIGRATIONS.map((m) => m.id));
