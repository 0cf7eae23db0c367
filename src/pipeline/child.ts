// A child pipeline (docs/PIPELINE.md, "Parent-child pipelines"): what a trigger job starts when it
// becomes ready. GitLab makes the child's configuration `include: [the trigger's files]`
// (Ci::Bridge#yaml_for_downstream) and compiles it as a new pipeline of the same project, ref and
// commit with source `parent_pipeline`; so does this, through the ordinary compiler, so a child
// is checked exactly as a top-level file is. The server (src/server/downstream/) and `gantry run`
// (src/local/) both call it; neither knows how a child is made.

import { compilePipeline } from './compile.js';
import { resolveVariables } from './variables.js';
import type { CompiledJob, CompileContext, CompileResult, ProjectFiles, TriggerSpec } from './types.js';

/**
 * GitLab's MAX_DESCENDANTS_DEPTH (app/services/ci/create_downstream_pipeline_service.rb): a
 * trigger job of a pipeline that already has this many pipelines above it and itself fails with
 * `reached_max_descendant_pipelines_depth`. A parent, its child and the child's child run.
 */
export const MAX_DESCENDANTS_DEPTH = 2;

/** What names a child's configuration: its file, or its files joined when there are several. */
export function childPipelineFile(trigger: TriggerSpec): string {
  return trigger.include.join(', ');
}

/** Compiles the child of `trigger`; `ctx` carries the child's predefined and pipeline variables. */
export function compileChildPipeline(trigger: TriggerSpec, ctx: CompileContext): { file: string; result: CompileResult } {
  const file = childPipelineFile(trigger);
  if (trigger.include.length === 1) return { file, result: compilePipeline(trigger.include[0]!, ctx) };
  // Several files merge as a top-level `include:` of them does: a root that includes them.
  const root = `.gantry-child-pipeline.yml`;
  const text = `include:\n${trigger.include.map((p) => `  - local: ${JSON.stringify(p)}\n`).join('')}`;
  const files: ProjectFiles = { read: (p) => (p === root ? text : ctx.files.read(p)), list: () => ctx.files.list() };
  return { file, result: compilePipeline(root, { ...ctx, files }) };
}

/** The parent pipeline's side of what a trigger job hands down. */
export interface ParentFacts {
  /** The parent's predefined CI_* variables. */
  predefined: Record<string, string>;
  /** The parent file's global variables (as compiled: workflow:rules variables included). */
  fileVariables: Record<string, string>;
  /** The parent's own pipeline variables (its trigger's, or what its parent handed down). */
  pipelineVariables: Record<string, string>;
}

/**
 * The child's predefined variables: the parent's (its commit, ref, project: GitLab gives a child
 * the parent's CI_COMMIT_*), with CI_PIPELINE_SOURCE `parent_pipeline`.
 */
export function childPredefined(parent: Record<string, string>): Record<string, string> {
  return { ...parent, CI_PIPELINE_SOURCE: 'parent_pipeline' };
}

/**
 * The variables a trigger job passes down, which become the child's pipeline variables (so they
 * rank as high as a trigger's): by GitLab's Gitlab::Ci::Variables::Downstream::Generator, the
 * job's YAML variables (its own and the globals it inherits) when `forward:yaml_variables` (the
 * default), then the parent's pipeline variables when `forward:pipeline_variables`; a later one
 * wins. Values are expanded as the trigger job sees them (predefined, the file's, the trigger's),
 * never with project variables: those are secrets, and what is handed down is stored as plain
 * pipeline variables. The child's jobs get project variables on their own, as every job does.
 */
export function downstreamVariables(job: Pick<CompiledJob, 'variables' | 'inheritedVariables' | 'trigger'>, parent: ParentFacts): Record<string, string> {
  const forward = job.trigger?.forward ?? { yamlVariables: true, pipelineVariables: false };
  const globals: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent.fileVariables)) if (!job.inheritedVariables || job.inheritedVariables.includes(k)) globals[k] = v;
  const yaml = { ...globals, ...job.variables };
  // What the job sees, by GitLab's precedence: predefined < file globals < job < pipeline variables.
  const seen = resolveVariables({ ...parent.predefined, ...yaml, ...parent.pipelineVariables });
  const out: Record<string, string> = {};
  if (forward.yamlVariables) for (const k of Object.keys(yaml)) out[k] = Object.prototype.hasOwnProperty.call(parent.pipelineVariables, k) ? expandedOwn(yaml[k]!, seen) : seen[k]!;
  if (forward.pipelineVariables) Object.assign(out, parent.pipelineVariables);
  return out;
}

/** A YAML value whose name a pipeline variable shadows: expanded on its own, not replaced by the pipeline variable. */
function expandedOwn(value: string, seen: Record<string, string>): string {
  return resolveVariables({ ...seen, __gantry_own__: value }).__gantry_own__!;
}

/**
 * Why a compiled child makes no pipeline, in words for the trigger job (its `downstreamError`):
 * each error as FILE:LINE:COLUMN, or the rules' verdict; null when it compiled to a pipeline.
 */
export function childFailureMessage(result: CompileResult): string | null {
  if (result.ok === true) return null;
  if (result.ok === 'filtered') return `the child pipeline has no job to run: ${result.reason}`;
  return result.errors.map((d) => `${d.location.file}:${d.location.line}:${d.location.column}: ${d.message} [${d.code}]`).join('\n');
}
