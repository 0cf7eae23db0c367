// One job's keywords, read into a typed definition (after extends and default are merged in).
// Everything that depends on the pipeline being created (rules, parallel names, needs) is
// resolved later; this module only checks shapes and converts values.

import type { SourceLocation } from '../domain/errors.js';
import { didYouMean } from './diagnostics.js';
import { parseDuration } from './duration.js';
import { IGNORED_KEYWORDS, JOB_KEYWORDS, TRIGGER_JOB_KEYWORDS, UNSUPPORTED_JOB_KEYWORDS } from './keywords.js';
import { readTrigger } from './trigger.js';
import { describe, entry, type PMap, type PNode } from './node.js';
import { readNeeds, type NeedDef } from './needs.js';
import { checkStartIn, readAllowFailure, readExitCodes, readRefsFilter, readRules, readStartIn, readWhen, type RefsFilter, type RuleDef } from './rules.js';
import { ENVIRONMENT_ACTIONS } from './environment.js';
import { compileRegex } from './expression-eval.js';
import type { AllowFailure, ArtifactsSpec, CacheSpec, CoverageRegex, EnvironmentAction, IdTokenSpec, RetryPolicy, RetryWhen, TriggerSpec, When } from './types.js';
import { readScript, readVariables, type Reader } from './values.js';

/** A cache entry reads straight into the compiled shape. */
export type CacheDef = CacheSpec;

/** `environment:` as written: name, url and tier are expanded per pipeline (compile.ts). */
export interface EnvironmentDef {
  name: string;
  url: string | null;
  action: EnvironmentAction;
  tier: string | null;
}

export type ParallelDef = { kind: 'count'; total: number } | { kind: 'matrix'; combos: Record<string, string>[] };

export interface JobDef {
  name: string;
  loc: SourceLocation;
  stage: string;
  stageLoc: SourceLocation;
  beforeScript: string[];
  script: string[];
  afterScript: string[];
  variables: Record<string, string>;
  rules: RuleDef[] | null;
  only: RefsFilter | null;
  except: RefsFilter | null;
  /** As written on the job; null = not written. */
  when: When | null;
  /** `start_in` of a job-level `when: delayed`, in seconds; null = not written. */
  startInSeconds: number | null;
  allowFailure: AllowFailure | null;
  retry: RetryPolicy;
  timeoutSeconds: number | null;
  tags: string[];
  needs: NeedDef[] | null;
  dependencies: { job: string; loc: SourceLocation }[] | null;
  parallel: ParallelDef | null;
  artifacts: ArtifactsSpec | null;
  cache: CacheDef[];
  resourceGroup: string | null;
  interruptible: boolean;
  environment: EnvironmentDef | null;
  priority: number;
  /** Which global variables the job sees (`inherit:variables`): true = all. */
  inheritVariables: boolean | string[];
  /** `id_tokens:` as written (audiences unexpanded); null = none. */
  idTokens: Record<string, IdTokenSpec> | null;
  /** `coverage:` as written; null = none. */
  coverage: CoverageRegex | null;
  /** `trigger:`: a trigger job (no script; src/pipeline/trigger.ts); null = an ordinary job. */
  trigger: TriggerSpec | null;
}

export const DEFAULT_RETRY: RetryPolicy = { max: 0, when: ['always'], exitCodes: null };
const RETRY_WHEN: RetryWhen[] = [
  'always', 'unknown_failure', 'script_failure', 'api_failure', 'stuck_or_timeout_failure', 'runner_system_failure',
  'runner_unsupported', 'stale_schedule', 'job_execution_timeout', 'archived_failure', 'unmet_prerequisites',
  'scheduler_failure', 'data_integrity_failure',
];
export const CACHE_POLICIES = ['pull-push', 'pull', 'push'] as const;
const EXPIRE_DEFAULT = 30 * 86400; // GitLab's instance default for artifacts
const MAX_PARALLEL = 200;

export function readJob(r: Reader, name: string, keyLoc: SourceLocation, map: PMap, opts: { isDefault: boolean }): JobDef {
  const job: JobDef = {
    name, loc: keyLoc, stage: 'test', stageLoc: keyLoc, beforeScript: [], script: [], afterScript: [], variables: {},
    rules: null, only: null, except: null, when: null, startInSeconds: null, allowFailure: null, retry: DEFAULT_RETRY, timeoutSeconds: null,
    tags: [], needs: null, dependencies: null, parallel: null, artifacts: null, cache: [], resourceGroup: null,
    interruptible: false, environment: null, priority: 0, inheritVariables: true, idTokens: null, coverage: null, trigger: null,
  };
  // A trigger job has GitLab's Bridge keys and nothing else: checked first, so that a `script`
  // there is named as what it is rather than read.
  const triggerEntry = opts.isDefault ? undefined : entry(map, 'trigger');
  if (triggerEntry) {
    for (const e of map.entries) {
      if ((TRIGGER_JOB_KEYWORDS as readonly string[]).includes(e.key)) continue;
      r.diags.error(
        'GANTRY_E_UNKNOWN_KEYWORD',
        `trigger job ${name} config contains unknown keys: ${e.key} (GitLab's words); a trigger job may have: ${TRIGGER_JOB_KEYWORDS.join(', ')}`,
        e.keyLoc,
      );
    }
  }
  const what = (k: string): string => `${name}:${k}`;
  let hasScript = false;
  for (const e of map.entries) {
    const v = e.value;
    if (triggerEntry && !(TRIGGER_JOB_KEYWORDS as readonly string[]).includes(e.key)) continue; // reported above
    const unsupported = UNSUPPORTED_JOB_KEYWORDS[e.key];
    if (unsupported !== undefined) {
      r.diags.error('GANTRY_E_UNKNOWN_KEYWORD', `\`${e.key}\` in ${name}: ${unsupported}`, e.keyLoc);
      if (e.key === 'trigger') hasScript = true; // the missing script is not the problem here
      continue;
    }
    if (!(JOB_KEYWORDS as readonly string[]).includes(e.key)) {
      r.diags.error(
        'GANTRY_E_UNKNOWN_KEYWORD',
        `unknown keyword \`${e.key}\` in job ${name}${didYouMean(e.key, JOB_KEYWORDS)}; job keywords are: ${JOB_KEYWORDS.join(', ')}`,
        e.keyLoc,
      );
      continue;
    }
    const ignored = IGNORED_KEYWORDS[e.key];
    if (ignored !== undefined) {
      r.diags.warn('GANTRY_W_IGNORED_KEYWORD', `\`${e.key}\` is ignored: ${ignored}`, e.keyLoc);
      continue;
    }
    switch (e.key) {
      case 'script':
        hasScript = true;
        job.script = readScript(r, v, what('script')) ?? [];
        if (job.script.length === 0 && v.kind === 'seq' && v.items.length === 0) r.invalid(v, `${what('script')} must not be empty`);
        break;
      case 'before_script':
        job.beforeScript = readScript(r, v, what('before_script')) ?? [];
        break;
      case 'after_script':
        job.afterScript = readScript(r, v, what('after_script')) ?? [];
        break;
      case 'stage':
      case 'type': {
        if (e.key === 'type') {
          r.diags.warn('GANTRY_W_DEPRECATED', '`type` is deprecated: use `stage`', e.keyLoc);
          if (entry(map, 'stage')) break;
        }
        const s = r.str(v, what('stage'));
        if (s !== undefined) {
          job.stage = s;
          job.stageLoc = v.loc;
        }
        break;
      }
      case 'variables':
        job.variables = readVariables(r, v, what('variables'), false) ?? {};
        break;
      case 'rules':
        job.rules = readRules(r, v, what('rules'), 'job') ?? [];
        break;
      case 'only':
        job.only = readRefsFilter(r, v, what('only')) ?? null;
        break;
      case 'except':
        job.except = readRefsFilter(r, v, what('except')) ?? null;
        break;
      case 'when':
        job.when = readWhen(r, v, what('when'), false) ?? null;
        break;
      case 'start_in':
        job.startInSeconds = readStartIn(r, v, what('start_in')) ?? null;
        break;
      case 'allow_failure':
        job.allowFailure = readAllowFailure(r, v, what('allow_failure')) ?? null;
        break;
      case 'retry':
        job.retry = readRetry(r, v, what('retry')) ?? DEFAULT_RETRY;
        break;
      case 'timeout':
        job.timeoutSeconds = readDuration(r, v, what('timeout')) ?? null;
        break;
      case 'tags':
        job.tags = r.strArray(v, what('tags')) ?? [];
        break;
      case 'needs':
        job.needs = readNeeds(r, v, what('needs')) ?? null;
        break;
      case 'dependencies': {
        // GitLab validates `dependencies` with allow_nil (lib/gitlab/ci/config/entry/job.rb): an
        // empty `dependencies:` is no restriction, as if it were not written.
        if (v.kind === 'scalar' && v.value === null) break;
        if (v.kind !== 'seq') {
          r.invalid(v, `${what('dependencies')} expects a list of job names, not ${describe(v)}`);
          break;
        }
        job.dependencies = [];
        for (const i of v.items) {
          const d = r.str(i, what('dependencies'));
          if (d !== undefined) job.dependencies.push({ job: d, loc: i.loc });
        }
        break;
      }
      case 'parallel':
        job.parallel = readParallel(r, v, what('parallel')) ?? null;
        break;
      case 'artifacts':
        job.artifacts = readArtifacts(r, v, what('artifacts')) ?? null;
        break;
      case 'cache':
        job.cache = readCaches(r, v, what('cache')) ?? [];
        break;
      case 'resource_group':
        job.resourceGroup = r.str(v, what('resource_group')) ?? null;
        break;
      case 'interruptible':
        job.interruptible = r.bool(v, what('interruptible')) ?? false;
        break;
      case 'environment':
        job.environment = readEnvironment(r, v, what('environment')) ?? null;
        break;
      case 'priority':
        job.priority = r.int(v, what('priority'), -1000, 1000) ?? 0;
        break;
      case 'inherit':
        job.inheritVariables = readInherit(r, v, what('inherit')).variables;
        break;
      case 'id_tokens':
        job.idTokens = readIdTokens(r, v, what('id_tokens')) ?? null;
        break;
      case 'coverage':
        job.coverage = readCoverage(r, v, what('coverage')) ?? null;
        break;
      case 'trigger':
        hasScript = true; // a trigger job has none
        if (opts.isDefault) r.invalid(e.keyLoc, '`trigger` is a job keyword, not a default');
        else job.trigger = readTrigger(r, v, what('trigger')) ?? null;
        break;
      case 'extends':
        break; // resolved before this point
    }
  }
  if (!opts.isDefault && !hasScript) {
    r.diags.error('GANTRY_E_NO_SCRIPT', `job ${name} has no script: every job needs \`script:\` with at least one command`, keyLoc);
  }
  if (!opts.isDefault) {
    // With rules, the delay belongs to the rule that says `when: delayed` (GitLab: a job with
    // rules has no start_in of its own).
    const startIn = entry(map, 'start_in');
    if (job.rules && startIn) r.invalid(startIn.keyLoc, `${what('start_in')}: a job with rules gives start_in in the rule that says when: delayed`);
    else if (job.rules && job.when === 'delayed') r.invalid(entry(map, 'when')!.value, `${what('when')}: a job with rules says when: delayed, with its start_in, in a rule`);
    else if (!job.rules) checkStartIn(r, map, job.when, name);
  }
  if (job.rules && (job.only || job.except)) {
    const at = entry(map, 'only')?.keyLoc ?? entry(map, 'except')?.keyLoc ?? keyLoc;
    r.invalid(at, `job ${name} uses both rules and only/except: use one or the other (rules is preferred)`);
  }
  return job;
}

export function readInherit(r: Reader, node: PNode, what: string): { default: boolean | string[]; variables: boolean | string[] } {
  const out: { default: boolean | string[]; variables: boolean | string[] } = { default: true, variables: true };
  const map = r.map(node, what);
  if (!map) return out;
  r.keys(map, what, ['default', 'variables']);
  for (const e of map.entries) {
    if (e.key !== 'default' && e.key !== 'variables') continue;
    const v = e.value;
    if (v.kind === 'scalar' && typeof v.value === 'boolean') out[e.key] = v.value;
    else if (v.kind === 'seq') out[e.key] = r.strList(v, `${what}:${e.key}`) ?? true;
    else r.invalid(v, `${what}:${e.key} expects true, false or a list of names, not ${describe(v)}`);
  }
  return out;
}

export function readDuration(r: Reader, node: PNode, what: string): number | undefined {
  if (node.kind === 'scalar' && (typeof node.value === 'string' || typeof node.value === 'number')) {
    const s = parseDuration(node.value);
    if (s !== null) return s;
  }
  r.diags.error('GANTRY_E_BAD_DURATION', `${what} expects a duration like "1h 30m", "90 minutes" or "30s", not ${describe(node)}`, node.loc);
  return undefined;
}

function readRetry(r: Reader, node: PNode, what: string): RetryPolicy | undefined {
  if (node.kind === 'scalar') {
    const max = r.int(node, what, 0, 2);
    return max === undefined ? undefined : { max: max as 0 | 1 | 2, when: ['always'], exitCodes: null };
  }
  const map = r.map(node, what);
  if (!map) return undefined;
  r.keys(map, what, ['max', 'when', 'exit_codes']);
  const out: RetryPolicy = { max: 0, when: ['always'], exitCodes: null };
  const max = entry(map, 'max');
  if (max) out.max = (r.int(max.value, `${what}:max`, 0, 2) ?? 0) as 0 | 1 | 2;
  const when = entry(map, 'when');
  if (when) {
    const list = r.strList(when.value, `${what}:when`);
    if (list) {
      out.when = [];
      for (const w of list) {
        if ((RETRY_WHEN as string[]).includes(w)) out.when.push(w as RetryWhen);
        else r.invalid(when.value, `${what}:when: unknown failure reason \`${w}\`${didYouMean(w, RETRY_WHEN)}`);
      }
    }
  }
  const codes = entry(map, 'exit_codes');
  if (codes) out.exitCodes = readExitCodes(r, codes.value, `${what}:exit_codes`) ?? null;
  return out;
}

function readParallel(r: Reader, node: PNode, what: string): ParallelDef | undefined {
  if (node.kind === 'scalar') {
    const n = r.int(node, what, 1, MAX_PARALLEL);
    return n === undefined ? undefined : { kind: 'count', total: n };
  }
  const map = r.map(node, what);
  if (!map) return undefined;
  r.keys(map, what, ['matrix']);
  const m = entry(map, 'matrix');
  if (!m) return r.invalid(map, `${what} expects a number or \`matrix: [...]\``);
  if (m.value.kind !== 'seq' || m.value.items.length === 0) return r.invalid(m.value, `${what}:matrix expects a non-empty list of variable mappings`);
  const combos: Record<string, string>[] = [];
  for (const item of m.value.items) {
    const im = r.map(item, `${what}:matrix`);
    if (!im) return undefined;
    const partial = r.matrixCombos(im, `${what}:matrix`);
    if (!partial) return undefined;
    combos.push(...partial);
  }
  if (combos.length > MAX_PARALLEL) return r.invalid(m.value, `${what}:matrix makes ${combos.length} jobs; the limit is ${MAX_PARALLEL}`);
  return { kind: 'matrix', combos };
}

function readArtifacts(r: Reader, node: PNode, what: string): ArtifactsSpec | undefined {
  const map = r.map(node, what);
  if (!map) return undefined;
  r.keys(map, what, ['paths', 'exclude', 'untracked', 'when', 'expire_in', 'name', 'reports', 'expose_as', 'public', 'access']);
  const out: ArtifactsSpec = { paths: [], exclude: [], untracked: false, when: 'on_success', expireInSeconds: EXPIRE_DEFAULT, expireInDefault: true, name: null };
  for (const e of map.entries) {
    const v = e.value;
    switch (e.key) {
      case 'paths':
        out.paths = r.strArray(v, `${what}:paths`) ?? [];
        break;
      case 'exclude':
        out.exclude = r.strArray(v, `${what}:exclude`) ?? [];
        break;
      case 'untracked':
        out.untracked = r.bool(v, `${what}:untracked`) ?? false;
        break;
      case 'when':
        out.when = r.oneOf(v, `${what}:when`, ['on_success', 'on_failure', 'always'] as const) ?? 'on_success';
        break;
      case 'expire_in':
        delete out.expireInDefault;
        if (v.kind === 'scalar' && typeof v.value === 'string' && v.value.trim().toLowerCase() === 'never') out.expireInSeconds = null;
        else out.expireInSeconds = readDuration(r, v, `${what}:expire_in`) ?? EXPIRE_DEFAULT;
        break;
      case 'name':
        out.name = r.text(v, `${what}:name`) ?? null;
        break;
      case 'reports': {
        const reports = readReports(r, v, `${what}:reports`);
        if (reports) out.reports = reports;
        break;
      }
      default:
        r.diags.warn('GANTRY_W_IGNORED_KEYWORD', `\`artifacts:${e.key}\` is ignored: it needs GitLab's web interface`, e.keyLoc);
    }
  }
  return out;
}

/**
 * `artifacts:reports`: `junit` and `dotenv` (each a path or a list; globs allowed); GitLab's other
 * kinds are warned about and ignored. Undefined when it names no file of either.
 */
function readReports(r: Reader, node: PNode, what: string): { junit: string[]; dotenv?: string[] } | undefined {
  const map = r.map(node, what);
  if (!map) return undefined;
  let junit: string[] = [];
  let dotenv: string[] = [];
  for (const e of map.entries) {
    if (e.key === 'junit') junit = r.strList(e.value, `${what}:junit`) ?? [];
    else if (e.key === 'dotenv') dotenv = r.strList(e.value, `${what}:dotenv`) ?? [];
    else r.diags.warn('GANTRY_W_IGNORED_KEYWORD', `\`${what}:${e.key}\` is ignored: Gantry reads \`junit\` and \`dotenv\` reports only`, e.keyLoc);
  }
  if (junit.length === 0 && dotenv.length === 0) return undefined;
  return dotenv.length > 0 ? { junit, dotenv } : { junit };
}

/**
 * `coverage: '/regex/'`: GitLab requires the slashes (a plain string is refused), and the pattern
 * must compile; flags after the last slash as in `rules:if` (i, m, s).
 */
function readCoverage(r: Reader, node: PNode, what: string): CoverageRegex | undefined {
  const text = r.str(node, what);
  if (text === undefined) return undefined;
  const m = /^\/(.*)\/([a-z]*)$/s.exec(text);
  if (!m) return r.invalid(node, `${what} expects a regular expression between slashes, like '/Coverage: \\d+\\.\\d+%/', not ${JSON.stringify(text)}`);
  const [, source, flags] = m as unknown as [string, string, string];
  if (!/^[ims]*$/.test(flags)) return r.invalid(node, `${what}: unsupported regex flag in /${source}/${flags}: use i, m or s`);
  if (source === '' || compileRegex(source, flags) === null) return r.invalid(node, `${what}: invalid regular expression /${source}/`);
  return { source, flags };
}

function readCaches(r: Reader, node: PNode, what: string): CacheDef[] | undefined {
  const items = node.kind === 'seq' ? node.items : [node];
  if (items.length > 4) return r.invalid(node, `${what}: at most 4 caches per job`);
  const out: CacheDef[] = [];
  for (const item of items) {
    const map = r.map(item, what);
    if (!map) continue;
    r.keys(map, what, ['key', 'paths', 'untracked', 'policy', 'when', 'fallback_keys', 'unprotect']);
    const c: CacheDef = { key: { kind: 'literal', value: 'default' }, paths: [], untracked: false, policy: 'pull-push', when: 'on_success', fallbackKeys: [] };
    for (const e of map.entries) {
      const v = e.value;
      switch (e.key) {
        case 'key':
          if (v.kind === 'map') {
            r.keys(v, `${what}:key`, ['files', 'prefix']);
            const files = entry(v, 'files');
            const prefix = entry(v, 'prefix');
            const list = files ? r.strList(files.value, `${what}:key:files`) : r.invalid(v, `${what}:key expects a string or \`files: [...]\``);
            if (list && (list.length < 1 || list.length > 2)) r.invalid(files!.value, `${what}:key:files expects one or two files`);
            else if (list) c.key = { kind: 'files', files: list, prefix: prefix ? (r.text(prefix.value, `${what}:key:prefix`) ?? null) : null };
          } else {
            const k = r.text(v, `${what}:key`);
            if (k !== undefined && checkCacheKey(r, v, k, `${what}:key`)) c.key = { kind: 'literal', value: k };
          }
          break;
        case 'paths':
          c.paths = r.strArray(v, `${what}:paths`) ?? [];
          break;
        case 'untracked':
          c.untracked = r.bool(v, `${what}:untracked`) ?? false;
          break;
        case 'policy':
          // GitLab Runner expands variables in the policy: checked by the runner once expanded.
          if (v.kind === 'scalar' && typeof v.value === 'string' && v.value.includes('$')) c.policyUnexpanded = v.value;
          else c.policy = r.oneOf(v, `${what}:policy`, CACHE_POLICIES) ?? 'pull-push';
          break;
        case 'when':
          c.when = r.oneOf(v, `${what}:when`, ['on_success', 'on_failure', 'always'] as const) ?? 'on_success';
          break;
        case 'fallback_keys':
          c.fallbackKeys = r.strArray(v, `${what}:fallback_keys`) ?? [];
          break;
        case 'unprotect':
          r.bool(v, `${what}:unprotect`);
          break;
      }
    }
    out.push(c);
  }
  return out;
}

/**
 * GitLab rejects a cache key that contains `/` (also URL-encoded, %2F) or that is `.` or `..`:
 * the key names a file on the runner. Checked as written, before variables are expanded.
 */
function checkCacheKey(r: Reader, node: PNode, key: string, what: string): boolean {
  let decoded = key;
  try {
    decoded = decodeURIComponent(key);
  } catch {
    // Not valid percent-encoding: GitLab's unescape keeps such text as is.
  }
  if (decoded.includes('/')) {
    r.invalid(node, `${what} cannot contain \`/\` (or %2F): use \`-\` or a variable like $CI_COMMIT_REF_SLUG`);
    return false;
  }
  if (decoded === '.' || decoded === '..') {
    r.invalid(node, `${what} cannot be \`.\` or \`..\``);
    return false;
  }
  return true;
}

function readEnvironment(r: Reader, node: PNode, what: string): EnvironmentDef | undefined {
  if (node.kind === 'scalar') {
    const name = r.str(node, what);
    return name === undefined ? undefined : { name, url: null, action: 'start', tier: null };
  }
  const map = r.map(node, what);
  if (!map) return undefined;
  r.keys(map, what, ['name', 'url', 'on_stop', 'action', 'auto_stop_in', 'deployment_tier', 'kubernetes']);
  const name = entry(map, 'name');
  if (!name) return r.invalid(map, `${what} expects \`name:\``);
  const out: EnvironmentDef = { name: r.str(name.value, `${what}:name`) ?? '', url: null, action: 'start', tier: null };
  const url = entry(map, 'url');
  if (url) out.url = r.str(url.value, `${what}:url`) ?? null;
  const action = entry(map, 'action');
  if (action) out.action = r.oneOf(action.value, `${what}:action`, ENVIRONMENT_ACTIONS) ?? 'start';
  const tier = entry(map, 'deployment_tier');
  // Expanded on the server side like the name, so a variable is checked once expanded.
  if (tier) out.tier = r.str(tier.value, `${what}:deployment_tier`) ?? null;
  return out;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `id_tokens: {NAME: {aud: AUDIENCE or [AUDIENCES]}}`, GitLab's shape: every token names the
 * variable it is given in and its audience, and has nothing else. An empty audience (or list) is
 * refused: a token for nobody in particular is accepted by anyone who skips the check.
 */
export function readIdTokens(r: Reader, node: PNode, what: string): Record<string, IdTokenSpec> | undefined {
  if (node.kind !== 'map') return r.invalid(node, `${what} expects a mapping of token names to \`{aud: ...}\`, e.g. \`ID_TOKEN: {aud: https://vault.example.com}\`, not ${describe(node)}`);
  const out: Record<string, IdTokenSpec> = {};
  for (const e of node.entries) {
    if (!VARIABLE_NAME.test(e.key)) {
      r.invalid(e.keyLoc, `${what}: the token name \`${e.key}\` is the variable the job gets it in: letters, digits and _, not starting with a digit`);
      continue;
    }
    const map = r.map(e.value, `${what}:${e.key}`);
    if (!map) continue;
    r.keys(map, `${what}:${e.key}`, ['aud']);
    const aud = entry(map, 'aud');
    if (!aud) {
      r.invalid(map, `${what}:${e.key} expects \`aud:\`, the audience the token is for (a string or a list of strings)`);
      continue;
    }
    const v = aud.value;
    const audWhat = `${what}:${e.key}:aud`;
    if (v.kind === 'scalar' && typeof v.value === 'string') {
      if (v.value.trim() === '') r.invalid(v, `${audWhat} must not be empty`);
      else out[e.key] = { aud: v.value };
    } else if (v.kind === 'seq') {
      const list = r.strList(v, audWhat);
      if (!list) continue;
      if (list.length === 0) r.invalid(v, `${audWhat} expects at least one audience`);
      else if (list.some((a) => a.trim() === '')) r.invalid(v, `${audWhat}: an audience must not be empty`);
      else out[e.key] = { aud: [...new Set(list)] };
    } else {
      r.invalid(v, `${audWhat} expects a string or a list of strings, not ${describe(v)}`);
    }
  }
  return out;
}
