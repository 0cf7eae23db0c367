// The compiler's pipeline: load (with includes) -> extends -> !reference -> top level -> default
// -> job keywords -> parallel -> rules -> DAG. Each step reports into one Diagnostics so that a
// user sees every problem at once.

import type { SourceLocation } from '../domain/errors.js';
import { buildDag, type DagJob } from './dag.js';
import { didYouMean, Diagnostics, sortDiagnostics } from './diagnostics.js';
import { resolveExtends } from './extends.js';
import { loadPipelineTree } from './include.js';
import { readInherit, readJob, type JobDef } from './job.js';
import { DEFAULT_KEYWORDS, DEFAULT_STAGES, GLOBAL_KEYWORDS, IGNORED_KEYWORDS } from './keywords.js';
import { environmentSlug, ENVIRONMENT_TIERS, guessTier } from './environment.js';
import { entry, describe, type PEntry, type PMap } from './node.js';
import { expandParallel, type Instance } from './parallel.js';
import { resolveReferences } from './reference.js';
import { filterMatches, firstMatch, readRules, type RefsFilter, type RuleDef, type RuleEnv } from './rules.js';
import type { AllowFailure, CompileContext, CompiledJob, CompileResult, EnvironmentTier, IdTokenSpec, When } from './types.js';
import { readVariables, Reader } from './values.js';
import { expandVariables } from './variables.js';

interface TopLevel {
  stages: string[];
  variables: Record<string, string>;
  defaults: PMap | null;
  workflowName: string | null;
  workflowRules: RuleDef[] | null;
  /** Visible jobs and hidden templates, in file order. */
  defs: Map<string, PMap>;
  keyLocs: Map<string, SourceLocation>;
}

export function compilePipeline(file: string, ctx: CompileContext): CompileResult {
  const diags = new Diagnostics();
  try {
    const result = compile(file, ctx, diags);
    if (result) return result;
  } catch (err) {
    // A bug must surface as a diagnostic, never as an exception in the scheduler.
    diags.error('GANTRY_E_COMPILER_BUG', `internal compiler error: ${err instanceof Error ? err.message : String(err)}`, { file, line: 1, column: 1 });
  }
  return { ok: false, errors: sortDiagnostics(diags.errors), warnings: sortDiagnostics(diags.warnings) };
}

function compile(file: string, ctx: CompileContext, diags: Diagnostics): CompileResult | null {
  // Includes see the predefined and the trigger's variables, not the file's (GitLab's "Use
  // variables with include": includes are read before the file's variables exist).
  const loaded = loadPipelineTree(file, ctx.files, diags, ruleEnv(ctx, []));
  if (!loaded) return null;
  // GitLab merges `extends` before it resolves `!reference` (Gitlab::Ci::Config#build_config:
  // Extendable, then Yaml::Tags::Resolver): a reference sees the job as extended.
  const root = resolveReferences(withExtendsMerged(loaded, diags), diags);
  const r = new Reader(diags);
  const top = readTopLevel(r, root);
  const resolved = top.defs;
  if (top.defaults) readJob(r, 'default', top.defaults.loc, top.defaults, { isDefault: true });

  const jobs: JobDef[] = [];
  for (const [name, map] of resolved) {
    if (name.startsWith('.')) continue;
    jobs.push(readJob(r, name, top.keyLocs.get(name)!, withDefaults(r, name, map, top.defaults), { isDefault: false }));
  }
  if (jobs.length === 0 && !diags.hasErrors) {
    diags.error('GANTRY_E_EMPTY_PIPELINE', 'the pipeline defines no job: add a job with a `script:` (names starting with `.` are hidden templates)', { file, line: 1, column: 1 });
  }
  const stageIndex = new Map(top.stages.map((s, i) => [s, i]));
  for (const job of jobs) {
    if (!stageIndex.has(job.stage)) {
      diags.error(
        'GANTRY_E_UNDEFINED_STAGE',
        `job ${job.name} is in stage \`${job.stage}\`, which is not declared in stages${didYouMean(job.stage, top.stages)}; stages are: ${top.stages.join(', ')}`,
        job.stageLoc,
      );
    }
  }
  // No early return on errors: rules and needs are still checked so that one run lists all problems.
  const stageOf = (job: JobDef): number => stageIndex.get(job.stage) ?? Number.NaN;

  // workflow:rules decide whether there is a pipeline at all.
  const pipelineVars = { ...top.variables };
  if (top.workflowRules && !diags.hasErrors) {
    const env = ruleEnv(ctx, [pipelineVars]);
    const rule = firstMatch(top.workflowRules, env);
    if (!rule) return { ok: 'filtered', reason: 'no workflow:rules rule matched', warnings: sortDiagnostics(diags.warnings) };
    if (rule.when === 'never') {
      return { ok: 'filtered', reason: `workflow:rules: the rule at line ${rule.loc.line} says when: never`, warnings: sortDiagnostics(diags.warnings) };
    }
    if (rule.variables) Object.assign(pipelineVars, rule.variables);
  }

  const included: { def: JobDef; inst: Instance; when: Exclude<When, 'never'>; startInSeconds: number | null; allowFailure: AllowFailure; interruptible: boolean | null; variables: Record<string, string>; needs: JobDef['needs'] }[] = [];
  const left: { name: string; reason: string }[] = [];
  for (const { def, inst } of expandedJobs(jobs)) {
    const globals = inheritedGlobals(pipelineVars, def.inheritVariables);
    {
      const variables = inst.matrix ? { ...def.variables, ...inst.matrix } : def.variables;
      const env = ruleEnv(ctx, [jobPredefined(inst.name, def.stage), globals, variables]);
      const decision = decide(def, env, top.workflowRules !== null);
      if ('left' in decision) {
        left.push({ name: inst.name, reason: decision.left });
        continue;
      }
      included.push({
        def,
        inst,
        when: decision.when,
        startInSeconds: decision.startInSeconds,
        allowFailure: decision.allowFailure,
        interruptible: decision.interruptible,
        variables: decision.variables ? { ...variables, ...decision.variables } : variables,
        needs: withMatrixValues(decision.needs ?? def.needs, inst, def.name, r),
      });
    }
  }

  const dagJobs: DagJob[] = included.map((j) => ({
    name: j.inst.name,
    baseName: j.def.name,
    stage: j.def.stage,
    stageIndex: stageOf(j.def),
    loc: j.def.loc,
    needs: j.needs,
    dependencies: j.def.dependencies,
  }));
  const dag = buildDag(dagJobs, new Set(jobs.map((j) => j.name)), diags);
  if (diags.hasErrors) return null;
  // GitLab creates no pipeline when rules leave no job ("the rules configuration prevented any
  // jobs from being added to the pipeline"), nor one whose jobs are all in .pre and .post:
  // those stages wrap work, they are not work.
  if (included.length === 0) {
    return { ok: 'filtered', reason: 'the rules of every job exclude it for this pipeline, so GitLab would create none', left, warnings: sortDiagnostics(diags.warnings) };
  }
  if (included.every((j) => j.def.stage === '.pre' || j.def.stage === '.post')) {
    return {
      ok: 'filtered',
      reason: 'the pipeline has only .pre and .post jobs, and GitLab creates no pipeline for those alone',
      warnings: sortDiagnostics(diags.warnings),
    };
  }

  const compiled: CompiledJob[] = included.map((j, i) => {
    const d = dag[i]!;
    const out: CompiledJob = {
      name: j.inst.name,
      baseName: j.def.name,
      stage: j.def.stage,
      stageIndex: stageIndex.get(j.def.stage)!,
      beforeScript: j.def.beforeScript,
      script: j.def.script,
      afterScript: j.def.afterScript,
      variables: j.variables,
      when: j.when,
      ...(j.when === 'delayed' && j.startInSeconds !== null ? { startInSeconds: j.startInSeconds } : {}),
      allowFailure: j.allowFailure,
      retry: j.def.retry,
      timeoutSeconds: j.def.timeoutSeconds,
      tags: j.def.tags,
      needs: d.needs,
      needsMode: d.needsMode,
      artifactSources: d.artifactSources,
      artifacts: j.def.artifacts,
      // Runner-side keywords (cache, artifacts) stay unexpanded: the runner expands them with
      // every variable of the job, persisted ones included (docs/PIPELINE.md, "Variables in keywords").
      cache: j.def.cache,
      resourceGroup: j.def.resourceGroup,
      interruptible: j.interruptible ?? j.def.interruptible,
      environment: null,
      priority: j.def.priority,
      ...(j.def.coverage ? { coverage: j.def.coverage } : {}),
      parallel: j.inst.parallel,
      location: j.def.loc,
      ...(j.def.trigger ? { trigger: j.def.trigger } : {}),
    };
    serverSideExpansion(out, j.def, ruleEnv(ctx, [jobPredefined(j.inst.name, j.def.stage), inheritedGlobals(pipelineVars, j.def.inheritVariables), j.variables]), r);
    if (j.def.inheritVariables !== true) out.inheritedVariables = j.def.inheritVariables === false ? [] : j.def.inheritVariables;
    if (j.def.idTokens && Object.keys(j.def.idTokens).length > 0) {
      out.idTokens = resolveIdTokens(j.def.idTokens, ruleEnv(ctx, [jobPredefined(j.inst.name, j.def.stage), inheritedGlobals(pipelineVars, j.def.inheritVariables), j.variables]));
    }
    return out;
  });

  let workflowName: string | null = null;
  if (top.workflowName !== null) workflowName = expandVariables(top.workflowName, ruleEnv(ctx, [pipelineVars]).vars());
  return {
    ok: true,
    pipeline: { file, stages: top.stages, variables: pipelineVars, workflowName, jobs: compiled, left, warnings: sortDiagnostics(diags.warnings) },
  };
}

const NOT_JOBS: ReadonlySet<string> = new Set([...GLOBAL_KEYWORDS, 'id_tokens']);

/** The top level with every job and template replaced by its `extends`-merged mapping. */
function withExtendsMerged(root: PMap, diags: Diagnostics): PMap {
  const defs = new Map<string, PMap>();
  for (const e of root.entries) if (e.value.kind === 'map' && !NOT_JOBS.has(e.key)) defs.set(e.key, e.value);
  const merged = resolveExtends(defs, diags);
  return { ...root, entries: root.entries.map((e) => (defs.get(e.key) === e.value ? { ...e, value: merged.get(e.key)! } : e)) };
}

function readTopLevel(r: Reader, root: PMap): TopLevel {
  const top: TopLevel = {
    stages: DEFAULT_STAGES,
    variables: {},
    defaults: null,
    workflowName: null,
    workflowRules: null,
    defs: new Map(),
    keyLocs: new Map(),
  };
  const deprecatedGlobals: PEntry[] = [];
  for (const e of root.entries) {
    const v = e.value;
    if (e.key.startsWith('.')) {
      // Hidden keys hold templates and anchors; only mappings can be extended.
      if (v.kind === 'map') {
        top.defs.set(e.key, v);
        top.keyLocs.set(e.key, e.keyLoc);
      }
      continue;
    }
    switch (e.key) {
      case 'stages':
      case 'types': {
        if (e.key === 'types') r.diags.warn('GANTRY_W_DEPRECATED', '`types` is deprecated: use `stages`', e.keyLoc);
        const list = r.strArray(v, e.key);
        if (list) top.stages = ['.pre', ...new Set(list.filter((s) => s !== '.pre' && s !== '.post')), '.post'];
        break;
      }
      case 'variables':
        top.variables = readVariables(r, v, 'variables', true) ?? {};
        break;
      case 'default': {
        const map = r.map(v, 'default');
        if (map) {
          r.keys(map, 'default', DEFAULT_KEYWORDS);
          top.defaults = map;
        }
        break;
      }
      case 'workflow': {
        const map = r.map(v, 'workflow');
        if (!map) break;
        r.keys(map, 'workflow', ['name', 'rules', 'auto_cancel']);
        const name = entry(map, 'name');
        if (name) top.workflowName = r.str(name.value, 'workflow:name') ?? null;
        const rules = entry(map, 'rules');
        if (rules) top.workflowRules = readRules(r, rules.value, 'workflow:rules', 'workflow') ?? null;
        const ac = entry(map, 'auto_cancel');
        if (ac) r.diags.warn('GANTRY_W_IGNORED_KEYWORD', '`workflow:auto_cancel` is ignored', ac.keyLoc);
        break;
      }
      case 'image':
      case 'services':
        r.diags.warn('GANTRY_W_IGNORED_KEYWORD', `\`${e.key}\` is ignored: ${IGNORED_KEYWORDS[e.key]}`, e.keyLoc);
        break;
      case 'cache':
      case 'before_script':
      case 'after_script':
        r.diags.warn('GANTRY_W_DEPRECATED', `a global \`${e.key}\` is deprecated: move it under \`default:\``, e.keyLoc);
        deprecatedGlobals.push(e);
        break;
      case 'include':
        break; // already merged by the loader
      case 'id_tokens':
        // GitLab allows it in a job or under default:, nowhere else.
        r.invalid(e.keyLoc, '`id_tokens` is a job keyword: write it in a job or under `default:`');
        break;
      default:
        if (v.kind === 'map') {
          if (top.defs.has(e.key)) top.defs.delete(e.key); // keep file order of the last definition
          top.defs.set(e.key, v);
          top.keyLocs.set(e.key, e.keyLoc);
        } else {
          r.invalid(
            e.keyLoc,
            `\`${e.key}\` is neither a keyword nor a job: a job is a mapping with a script (found ${describe(v)})${didYouMean(e.key, GLOBAL_KEYWORDS)}`,
          );
        }
    }
  }
  if (deprecatedGlobals.length > 0) {
    // Deprecated globals act as `default:` values; an explicit `default:` wins.
    const base: PMap = top.defaults ?? { kind: 'map', entries: [], loc: root.loc };
    const extra = deprecatedGlobals.filter((g) => !entry(base, g.key));
    top.defaults = { ...base, entries: [...base.entries, ...extra] };
  }
  return top;
}

function withDefaults(r: Reader, name: string, job: PMap, defaults: PMap | null): PMap {
  // A trigger job has none of `default:`'s keywords (GitLab's Bridge entry inherits none).
  if (!defaults || entry(job, 'trigger')) return job;
  const inheritEntry = entry(job, 'inherit');
  const inherit = inheritEntry ? readInherit(r, inheritEntry.value, `${name}:inherit`).default : true;
  if (inherit === false) return job;
  const extra = defaults.entries.filter(
    (d) => (DEFAULT_KEYWORDS as readonly string[]).includes(d.key) && !entry(job, d.key) && (inherit === true || inherit.includes(d.key)),
  );
  return extra.length === 0 ? job : { ...job, entries: [...job.entries, ...extra] };
}

function inheritedGlobals(vars: Record<string, string>, inherit: boolean | string[]): Record<string, string> {
  if (inherit === true) return vars;
  const out: Record<string, string> = {};
  if (inherit === false) return out;
  for (const k of inherit) if (Object.prototype.hasOwnProperty.call(vars, k)) out[k] = vars[k]!;
  return out;
}

/**
 * Variables as GitLab's server side sees them, by its "CI/CD variable precedence", lowest first:
 * predefined, then the YAML layers given (later wins), then the trigger's variables.
 */
function ruleEnv(ctx: CompileContext, layers: Record<string, string>[]): RuleEnv {
  const all = [ctx.variables, ...layers, ctx.pipelineVariables ?? {}];
  const raw = (name: string): string | null => {
    for (let i = all.length - 1; i >= 0; i--) {
      const layer = all[i]!;
      if (Object.prototype.hasOwnProperty.call(layer, name)) return layer[name]!;
    }
    return null;
  };
  const resolve = (name: string, depth: number): string | null => {
    const v = raw(name);
    if (v === null || depth > 10 || !v.includes('$')) return v;
    // Variables that reference variables are expanded, `$$` stays a literal dollar.
    return v.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a: string | undefined, b: string | undefined) =>
      whole === '$$' ? '$' : (resolve((a ?? b)!, depth + 1) ?? ''),
    );
  };
  let merged: Record<string, string> | null = null;
  return {
    lookup: (name) => resolve(name, 0),
    vars: () => {
      if (!merged) {
        merged = {};
        for (const layer of all) for (const k of Object.keys(layer)) merged[k] = resolve(k, 0) ?? '';
      }
      return merged;
    },
    changedFiles: ctx.changedFiles,
    listFiles: () => ctx.files.list(),
  };
}

interface Decision {
  when: Exclude<When, 'never'>;
  /** The delay of a `when: delayed` job, from its rule or itself. */
  startInSeconds: number | null;
  allowFailure: AllowFailure;
  variables: Record<string, string> | null;
  needs: JobDef['needs'] | null;
  /** The matching rule's `interruptible`, which wins over the job's (GitLab 16.10, rules:interruptible). */
  interruptible: boolean | null;
}

const DEFAULT_ONLY: RefsFilter = { refs: ['branches', 'tags'], variables: null, changes: null };

/** Whether the job is in this pipeline, and how. null = excluded. */
/** Why a job is not in the pipeline: what `gantry validate` and the lint page show. */
interface Left {
  left: string;
}

function decide(def: JobDef, env: RuleEnv, hasWorkflowRules: boolean): Decision | Left {
  if (def.rules) {
    const rule = firstMatch(def.rules, env);
    if (!rule) return { left: `no rule of its rules (line ${def.rules[0]?.loc.line ?? '?'}) matched` };
    const when = rule.when ?? def.when ?? 'on_success';
    if (when === 'never') return { left: `the rule at line ${rule.loc.line} says when: never` };
    // GitLab: a job-level `when: manual` makes failures allowed by default; a rule's does not.
    const allowFailure = rule.allowFailure ?? def.allowFailure ?? def.when === 'manual';
    return { when, startInSeconds: rule.startInSeconds, allowFailure, variables: rule.variables, needs: rule.needs, interruptible: rule.interruptible };
  }
  // Without rules or only, GitLab runs a job for branches and tags (not merge request pipelines);
  // but when the file has workflow:rules, GitLab drops that implicit `only` and lets the workflow
  // decide which pipelines exist, so such a job runs in every pipeline that is created.
  const only = def.only ?? (hasWorkflowRules ? null : DEFAULT_ONLY);
  if (only && !filterMatches(only, env)) return { left: def.only ? 'its only: does not match' : 'without rules or only:, a job runs for branches and tags, not for this source' };
  if (def.except && filterMatches(def.except, env)) return { left: 'its except: matches' };
  const when = def.when ?? 'on_success';
  if (when === 'never') return { left: 'it says when: never' };
  return { when, startInSeconds: def.startInSeconds, allowFailure: def.allowFailure ?? when === 'manual', variables: null, needs: null, interruptible: null };
}

const MATRIX_EXPRESSION = /\$\[\[\s*matrix\.([A-Za-z_][A-Za-z0-9_]*)\s*\]\]/g;

/**
 * `$[[ matrix.NAME ]]` in `needs:parallel:matrix` is this instance's own matrix value, so that
 * `build: [linux]` can need `compile: [linux]` (GitLab's "matrix expressions"). An identifier the
 * job's matrix does not have is an error at the need.
 */
function withMatrixValues(needs: JobDef['needs'], inst: Instance, job: string, r: Reader): JobDef['needs'] {
  if (!needs || !needs.some((n) => n.matrix?.some((combo) => Object.values(combo).some((v) => v.includes('$[['))))) return needs;
  return needs.map((n) => {
    if (!n.matrix) return n;
    const matrix = n.matrix.map((combo) => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(combo)) {
        out[k] = v.replace(MATRIX_EXPRESSION, (whole, name: string) => {
          const value = inst.matrix?.[name];
          if (value !== undefined) return value;
          r.invalid(n.loc, `${job}: ${whole} in needs:parallel:matrix names no variable of this job's own parallel:matrix${inst.matrix ? ` (it has ${Object.keys(inst.matrix).join(', ')})` : ''}`);
          return whole;
        });
      }
      return out;
    });
    return { ...n, matrix };
  });
}

function jobPredefined(name: string, stage: string): Record<string, string> {
  return { CI_JOB_NAME: name, CI_JOB_STAGE: stage };
}

/**
 * The keywords GitLab expands on its side, before a runner gets the job (GitLab's "Where variables
 * can be used"): environment:name and :deployment_tier without CI_ENVIRONMENT_* variables,
 * environment:url with them, resource_group with them but CI_ENVIRONMENT_URL, and tags. Persisted
 * variables (CI_JOB_ID, CI_PIPELINE_ID, ...) do not exist yet here, as there.
 */
function serverSideExpansion(out: CompiledJob, def: JobDef, env: RuleEnv, r: Reader): void {
  const vars = env.vars();
  const expand = (v: string, extra?: Record<string, string>) => (v.includes('$') ? expandVariables(v, extra ? { ...vars, ...extra } : vars) : v);
  out.tags = def.tags.map((t) => expand(t));
  const e = def.environment;
  let deployment: Record<string, string> = {};
  if (e) {
    const name = expand(e.name);
    let tier = guessTier(name);
    if (e.tier !== null) {
      const t = expand(e.tier);
      if ((ENVIRONMENT_TIERS as readonly string[]).includes(t)) tier = t as EnvironmentTier;
      else r.invalid(out.location, `${def.name}:environment:deployment_tier is ${JSON.stringify(t)}: it must be one of ${ENVIRONMENT_TIERS.join(', ')}`);
    }
    const slug = environmentSlug(name);
    deployment = { CI_ENVIRONMENT_NAME: name, CI_ENVIRONMENT_SLUG: slug, CI_ENVIRONMENT_ACTION: e.action, CI_ENVIRONMENT_TIER: tier };
    out.environment = name;
    out.environmentDetails = { slug, url: e.url === null ? null : expand(e.url, deployment), action: e.action, tier };
  }
  if (def.resourceGroup !== null) out.resourceGroup = expand(def.resourceGroup, deployment);
}

/**
 * Audiences may name variables, as in GitLab (`aud: $VAULT_ADDR`): expanded here, against what
 * the pipeline file and the trigger define, as cache keys are. Project variables are not known
 * yet and never reach an audience: the audience is a claim anyone holding the token can read.
 */
function resolveIdTokens(tokens: Record<string, IdTokenSpec>, env: RuleEnv): Record<string, IdTokenSpec> {
  const expand = (a: string): string => (a.includes('$') ? expandVariables(a, env.vars()) : a);
  const out: Record<string, IdTokenSpec> = {};
  for (const [name, t] of Object.entries(tokens)) out[name] = { aud: typeof t.aud === 'string' ? expand(t.aud) : t.aud.map(expand) };
  return out;
}

/**
 * Every job definition's instances, one per name. Two instances can share a name: a matrix listing
 * a combination twice, two combinations with the same values under different keys, or a job
 * written with the name an expansion makes (`test: [a]`). GitLab keeps jobs in a hash keyed by
 * name after expanding `parallel` and before any rule is evaluated
 * (lib/gitlab/ci/config/normalizer.rb), so the last one wins, in the place of the first.
 */
function expandedJobs(jobs: readonly JobDef[]): { def: JobDef; inst: Instance }[] {
  const byName = new Map<string, { def: JobDef; inst: Instance }>();
  for (const def of jobs) for (const inst of expandParallel(def.name, def.parallel)) byName.set(inst.name, { def, inst });
  return [...byName.values()];
}
