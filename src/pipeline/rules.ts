// `rules`, `workflow:rules` and the older `only`/`except`: reading them, and deciding for one
// pipeline whether a job is in and with which `when`, `allow_failure`, variables and needs.

import type { SourceLocation } from '../domain/errors.js';
import type { Diagnostics } from './diagnostics.js';
import { checkExpression, evaluate, compileRegex, type Lookup } from './expression-eval.js';
import { ExpressionError, parseExpression, type Expr } from './expression.js';
import { globMatcher } from './files.js';
import { describe, entry, type PMap, type PNode, type PScalar } from './node.js';
import { parseDuration } from './duration.js';
import { readNeeds, type NeedDef } from './needs.js';
import type { AllowFailure, When } from './types.js';
import { readVariables, type Reader } from './values.js';
import { expandVariables } from './variables.js';

export interface RuleDef {
  loc: SourceLocation;
  if: Expr | null;
  changes: string[] | null;
  exists: string[] | null;
  when: When | null;
  allowFailure: AllowFailure | null;
  variables: Record<string, string> | null;
  needs: NeedDef[] | null;
  /** `rules:interruptible`: replaces the job's `interruptible` when this rule matches. */
  interruptible: boolean | null;
  /** `rules:start_in` of a rule that says `when: delayed`, in seconds (required there, refused elsewhere). */
  startInSeconds: number | null;
}

const JOB_RULE_KEYS = ['if', 'changes', 'exists', 'when', 'start_in', 'allow_failure', 'variables', 'needs', 'interruptible'] as const;
const WORKFLOW_RULE_KEYS = ['if', 'changes', 'exists', 'when', 'variables'] as const;
// GitLab's include:rules take if, exists, changes and when (always or never), nothing else.
const INCLUDE_RULE_KEYS = ['if', 'changes', 'exists', 'when'] as const;
const JOB_WHEN = ['on_success', 'on_failure', 'always', 'manual', 'delayed', 'never'] as const;
const WORKFLOW_WHEN = ['always', 'never'] as const;

/** Parses a rules:if (or only:variables) expression, mapping an error's offset to a file column. */
export function readExpression(diags: Diagnostics, node: PScalar, src: string): Expr | undefined {
  try {
    const expr = parseExpression(src);
    checkExpression(expr);
    return expr;
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    const column = node.textOffset === null || src.includes('\n') ? node.loc.column : node.loc.column + node.textOffset + e.offset;
    diags.error('GANTRY_E_RULE_SYNTAX', `invalid rules:if expression: ${e.message} (in \`${src}\`)`, { ...node.loc, column });
    return undefined;
  }
}

export function readAllowFailure(r: Reader, node: PNode, what: string): AllowFailure | undefined {
  if (node.kind === 'scalar' && typeof node.value === 'boolean') return node.value;
  if (node.kind === 'map') {
    r.keys(node, what, ['exit_codes']);
    const ec = entry(node, 'exit_codes');
    if (!ec) return r.invalid(node, `${what} expects true, false or \`exit_codes: [...]\``);
    const codes = readExitCodes(r, ec.value, `${what}:exit_codes`);
    return codes ? { exitCodes: codes } : undefined;
  }
  return r.invalid(node, `${what} expects true, false or \`exit_codes: [...]\`, not ${describe(node)}`);
}

export function readExitCodes(r: Reader, node: PNode, what: string): number[] | undefined {
  const items = node.kind === 'seq' ? node.items : [node];
  const out: number[] = [];
  for (const i of items) {
    const n = r.int(i, what, 0, 255);
    if (n === undefined) return undefined;
    out.push(n);
  }
  return out;
}

function readPaths(r: Reader, node: PNode, what: string): string[] | undefined {
  if (node.kind === 'map') {
    r.keys(node, what, ['paths', 'compare_to', 'project', 'ref']);
    const p = entry(node, 'paths');
    if (!p) return r.invalid(node, `${what} expects \`paths: [...]\``);
    return withoutEmpty(r.strArray(p.value, `${what}:paths`));
  }
  if (node.kind === 'seq') return withoutEmpty(r.strList(node, what));
  return r.invalid(node, `${what} expects a list of file patterns, not ${describe(node)}`);
}

/** GitLab accepts an empty pattern and it matches no file; a glob library would throw on it. */
function withoutEmpty(list: string[] | undefined): string[] | undefined {
  return list?.filter((g) => g.trim() !== '');
}

export function readRules(r: Reader, node: PNode, what: string, kind: 'job' | 'workflow' | 'include'): RuleDef[] | undefined {
  const workflow = kind !== 'job';
  if (node.kind !== 'seq') return r.invalid(node, `${what} expects a list of rules, not ${describe(node)}`);
  // GitLab's rules entry validates presence: an empty list is an error, not "never".
  if (node.items.length === 0) return r.invalid(node, `${what} must not be empty: remove it, or write the rules`);
  const out: RuleDef[] = [];
  // `- !reference [.x, rules]` inside rules yields a nested list, which GitLab flattens.
  for (const item of node.items.flatMap((i) => (i.kind === 'seq' ? i.items : [i]))) {
    const map = r.map(item, `each rule in ${what}`);
    if (!map) continue;
    r.keys(map, `a rule of ${what}`, kind === 'include' ? INCLUDE_RULE_KEYS : workflow ? WORKFLOW_RULE_KEYS : JOB_RULE_KEYS);
    const rule: RuleDef = { loc: map.loc, if: null, changes: null, exists: null, when: null, allowFailure: null, variables: null, needs: null, interruptible: null, startInSeconds: null };
    for (const e of map.entries) {
      const v = e.value;
      switch (e.key) {
        case 'if': {
          if (v.kind !== 'scalar' || typeof v.value !== 'string') {
            r.invalid(v, `${what}:if expects an expression string, not ${describe(v)}`);
            break;
          }
          rule.if = readExpression(r.diags, v, v.value) ?? null;
          break;
        }
        case 'changes':
          rule.changes = readPaths(r, v, `${what}:changes`) ?? null;
          break;
        case 'exists':
          rule.exists = readPaths(r, v, `${what}:exists`) ?? null;
          break;
        case 'when':
          rule.when = (workflow ? r.oneOf(v, `${what}:when`, WORKFLOW_WHEN) : readWhen(r, v, `${what}:when`, true)) ?? null;
          break;
        case 'allow_failure':
          rule.allowFailure = readAllowFailure(r, v, `${what}:allow_failure`) ?? null;
          break;
        case 'variables':
          rule.variables = readVariables(r, v, `${what}:variables`, false) ?? null;
          break;
        case 'needs':
          rule.needs = readNeeds(r, v, `${what}:needs`) ?? null;
          break;
        case 'interruptible':
          rule.interruptible = r.bool(v, `${what}:interruptible`) ?? null;
          break;
        case 'start_in':
          rule.startInSeconds = readStartIn(r, v, `${what}:start_in`) ?? null;
          break;
      }
    }
    if (!workflow) checkStartIn(r, map, rule.when, what);
    out.push(rule);
  }
  return out;
}

// GitLab's limit on `start_in` (lib/gitlab/ci/config/entry/job.rb and rules/rule.rb:
// `validates :start_in, duration: { limit: '1 week' }`).
export const MAX_START_IN_SECONDS = 7 * 86400;

/** `start_in`: a duration as GitLab parses it (ChronicDuration), at most one week. */
export function readStartIn(r: Reader, node: PNode, what: string): number | undefined {
  if (node.kind === 'scalar' && (typeof node.value === 'string' || typeof node.value === 'number')) {
    const s = parseDuration(node.value);
    if (s !== null && s > MAX_START_IN_SECONDS) {
      r.diags.error('GANTRY_E_BAD_DURATION', `${what} should not exceed the limit of 1 week (GitLab's rule), not ${describe(node)}`, node.loc);
      return undefined;
    }
    if (s !== null) return s;
  }
  r.diags.error('GANTRY_E_BAD_DURATION', `${what} expects a duration like "30 minutes", "1 day" or "10 seconds", not ${describe(node)}`, node.loc);
  return undefined;
}

/**
 * GitLab's pairing of `when: delayed` and `start_in` in a job or a rule: `start_in` is required
 * with delayed and refused without it (entry/job.rb: `validates :start_in, absence: true, if: ->
 * { has_rules? || !delayed? }`; entry/rules/rule.rb: `disallowed_keys: %i[start_in], unless:
 * :specifies_delay?`, `validates :start_in, presence: true, if: :specifies_delay?`).
 */
export function checkStartIn(r: Reader, map: PMap, when: When | null, what: string): void {
  const startIn = entry(map, 'start_in');
  if (when === 'delayed' && !startIn) r.invalid(entry(map, 'when')?.value ?? map, `${what}: when: delayed needs start_in (how long to wait, at most 1 week)`);
  if (when !== 'delayed' && startIn) r.invalid(startIn.keyLoc, `${what}: start_in is only allowed with when: delayed`);
}

export function readWhen(r: Reader, node: PNode, what: string, allowNever: boolean): When | undefined {
  if (!allowNever && node.kind === 'scalar' && node.value === 'never') {
    return r.invalid(node, `${what}: never is only allowed inside rules or workflow:rules`);
  }
  return r.oneOf(node, what, allowNever ? JOB_WHEN : JOB_WHEN.filter((w) => w !== 'never'));
}

/** What rules are evaluated against. */
export interface RuleEnv {
  lookup: Lookup;
  vars: () => Record<string, string>;
  changedFiles: string[] | null;
  listFiles: () => string[];
}

function anyGlob(globs: string[], files: string[], env: RuleEnv): boolean {
  const vars = globs.some((g) => g.includes('$')) ? env.vars() : {};
  for (const g of globs) {
    const match = globMatcher(g.includes('$') ? expandVariables(g, vars) : g);
    for (const f of files) if (match(f)) return true;
  }
  return false;
}

export function ruleMatches(rule: RuleDef, env: RuleEnv): boolean {
  if (rule.if && !evaluate(rule.if, env.lookup)) return false;
  if (rule.changes && env.changedFiles !== null && !anyGlob(rule.changes, env.changedFiles, env)) return false;
  if (rule.exists && !anyGlob(rule.exists, env.listFiles(), env)) return false;
  return true;
}

/** The first matching rule, or null: then the job (or pipeline) is excluded. */
export function firstMatch(rules: RuleDef[], env: RuleEnv): RuleDef | null {
  for (const rule of rules) if (ruleMatches(rule, env)) return rule;
  return null;
}

// ---- only / except -------------------------------------------------------------------------

export interface RefsFilter {
  refs: string[] | null;
  variables: Expr[] | null;
  changes: string[] | null;
}

const SOURCE_KEYWORDS: Record<string, string> = {
  pushes: 'push',
  web: 'web',
  api: 'api',
  schedules: 'schedule',
  triggers: 'trigger',
  pipelines: 'pipeline',
  // GitLab matches a source by its plural too (Build::Policy::Refs): a child pipeline's.
  parent_pipelines: 'parent_pipeline',
  merge_requests: 'merge_request_event',
  external: 'external',
  chat: 'chat',
  external_pull_requests: 'external_pull_request_event',
};

export function readRefsFilter(r: Reader, node: PNode, what: string): RefsFilter | undefined {
  // GitLab's policy entry has a strategy for a list and one for a mapping; a lone string is neither.
  if (node.kind === 'seq') {
    const refs = r.strList(node, what);
    return refs ? { refs, variables: null, changes: null } : undefined;
  }
  if (node.kind !== 'map') return r.invalid(node, `${what} expects a list of refs or a mapping with refs, variables, changes; not ${describe(node)}`);
  r.keys(node, what, ['refs', 'variables', 'changes']);
  const out: RefsFilter = { refs: null, variables: null, changes: null };
  const refs = entry(node, 'refs');
  if (refs) out.refs = r.strList(refs.value, `${what}:refs`) ?? null;
  const vars = entry(node, 'variables');
  if (vars) {
    const items = vars.value.kind === 'seq' ? vars.value.items : [vars.value];
    out.variables = [];
    for (const i of items) {
      if (i.kind !== 'scalar' || typeof i.value !== 'string') {
        r.invalid(i, `${what}:variables expects expressions like '$VAR == "x"', not ${describe(i)}`);
        continue;
      }
      const expr = readExpression(r.diags, i, i.value);
      if (expr) out.variables.push(expr);
    }
  }
  const changes = entry(node, 'changes');
  if (changes) out.changes = readPaths(r, changes.value, `${what}:changes`) ?? null;
  return out;
}

/**
 * `PATTERN@group/project` matches only in that project (GitLab's Build::Policy::Refs: the entry is
 * split at its first `@`, the path compared with the project's full path, then the pattern read).
 */
function refMatches(entry: string, env: RuleEnv): boolean {
  const at = entry.indexOf('@');
  if (at >= 0 && entry.slice(at + 1) !== (env.lookup('CI_PROJECT_PATH') ?? '')) return false;
  return patternMatches(at >= 0 ? entry.slice(0, at) : entry, env);
}

function patternMatches(pattern: string, env: RuleEnv): boolean {
  const source = env.lookup('CI_PIPELINE_SOURCE') ?? 'push';
  const tag = env.lookup('CI_COMMIT_TAG');
  const ref = env.lookup('CI_COMMIT_REF_NAME') ?? env.lookup('CI_COMMIT_BRANCH') ?? tag ?? '';
  // A pipeline's ref is a tag, a merge request, or else a branch.
  if (pattern === 'tags') return Boolean(tag);
  if (pattern === 'branches') return !tag && source !== 'merge_request_event';
  const src = SOURCE_KEYWORDS[pattern];
  if (src !== undefined) return source === src;
  const re = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  // A refs regex is a Ruby Regexp (Build::Policy::Refs: `Regexp.new`), whose `\Z` is the end of
  // the text or before a final newline; JavaScript would read it as a plain `Z`.
  if (re) return compileRegex(re[1]!.replace(/\\Z/g, '(?=\\n?$)'), re[2]!)?.test(ref) ?? false;
  return pattern === ref;
}

/** All given keys must have a matching entry, for `only` and for `except` alike (GitLab). */
export function filterMatches(f: RefsFilter, env: RuleEnv): boolean {
  if (f.refs && !f.refs.some((p) => refMatches(p, env))) return false;
  if (f.variables && !f.variables.some((e) => evaluate(e, env.lookup))) return false;
  if (f.changes && env.changedFiles !== null && !anyGlob(f.changes, env.changedFiles, env)) return false;
  return true;
}
