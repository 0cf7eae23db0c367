// `trigger:` of a job: the child pipeline it starts (GitLab's parent-child pipelines). Only the
// same-project form runs here: `include` of local files at the commit of the parent. The shapes
// follow GitLab's Trigger entry (lib/gitlab/ci/config/entry/trigger.rb): a string is a project
// (multi-project), a mapping with `include` is a child pipeline (`strategy`, `forward`), a
// mapping without it is a project again (`project`, `branch`, `strategy`, `forward`).

import { normalizePath } from './files.js';
import { describe, entry, type PMap, type PNode } from './node.js';
import type { TriggerSpec } from './types.js';
import type { Reader } from './values.js';

/** GitLab's SameProjectTrigger INCLUDE_MAX_SIZE. */
export const TRIGGER_INCLUDE_MAX = 3;

const MULTI_PROJECT = 'multi-project pipelines (trigger: project) are not supported: Gantry runs child pipelines of the same project, `trigger: {include: path}`';

export function readTrigger(r: Reader, node: PNode, what: string): TriggerSpec | undefined {
  if (node.kind === 'scalar' && typeof node.value === 'string') return r.invalid(node, `${what}: ${MULTI_PROJECT}`);
  if (node.kind !== 'map') return r.invalid(node, `${what} has to be either a string or a hash (GitLab's words): write \`trigger: {include: path/to/child.yml}\`, not ${describe(node)}`);
  const include = entry(node, 'include');
  if (!include) {
    const project = entry(node, 'project');
    if (project) return r.invalid(project.keyLoc, `${what}: ${MULTI_PROJECT}`);
    return r.invalid(node, `${what} must specify either project or include (GitLab's words); Gantry runs \`include\`: \`trigger: {include: path/to/child.yml}\``);
  }
  r.keys(node, what, ['include', 'strategy', 'forward']);
  const spec: TriggerSpec = { include: [], depend: false, forward: { yamlVariables: true, pipelineVariables: false } };
  const files = readIncludes(r, include.value, `${what}:include`);
  if (files) spec.include = files;
  const strategy = entry(node, 'strategy');
  if (strategy) {
    if (strategy.value.kind === 'scalar' && strategy.value.value === 'depend') spec.depend = true;
    else r.invalid(strategy.value, `${what}:strategy should be depend, not ${describe(strategy.value)}`);
  }
  const forward = entry(node, 'forward');
  if (forward) {
    const map = r.map(forward.value, `${what}:forward`);
    if (map) readForward(r, map, `${what}:forward`, spec);
  }
  return files ? spec : undefined;
}

function readForward(r: Reader, map: PMap, what: string, spec: TriggerSpec): void {
  r.keys(map, what, ['yaml_variables', 'pipeline_variables']);
  const yaml = entry(map, 'yaml_variables');
  if (yaml) spec.forward.yamlVariables = r.bool(yaml.value, `${what}:yaml_variables`) ?? true;
  const pipeline = entry(map, 'pipeline_variables');
  if (pipeline) spec.forward.pipelineVariables = r.bool(pipeline.value, `${what}:pipeline_variables`) ?? false;
}

const NOT_LOCAL: Record<string, string> = {
  artifact: 'dynamic child pipelines (include: artifact) are not supported: the child file must be committed (include: local)',
  job: 'dynamic child pipelines (include: artifact, job) are not supported: the child file must be committed (include: local)',
  project: 'include: project is not supported: a child pipeline includes files of its own project (include: local)',
  file: 'include: project/file is not supported: a child pipeline includes files of its own project (include: local)',
  ref: 'include: project/ref is not supported: a child pipeline includes files of its own project (include: local)',
  template: 'include: template needs a GitLab instance: a child pipeline includes files of its own project (include: local)',
  remote: 'include: remote is not supported: a child pipeline includes files of its own project (include: local)',
  component: 'include: component needs a GitLab instance: a child pipeline includes files of its own project (include: local)',
  inputs: 'inputs in trigger:include are not supported: give the child its values as trigger job variables',
};

/** `include: PATH`, `include: {local: PATH}` or a list of those (at most three, as GitLab). */
function readIncludes(r: Reader, node: PNode, what: string): string[] | undefined {
  const items = node.kind === 'seq' ? node.items : [node];
  if (items.length === 0) return r.invalid(node, `${what} expects at least one file`);
  if (items.length > TRIGGER_INCLUDE_MAX) return r.invalid(node, `${what} is too long (maximum is ${TRIGGER_INCLUDE_MAX} files, as GitLab)`);
  const out: string[] = [];
  let ok = true;
  for (const item of items) {
    const path = readInclude(r, item, what);
    if (path === undefined) ok = false;
    else out.push(path);
  }
  return ok ? out : undefined;
}

function readInclude(r: Reader, item: PNode, what: string): string | undefined {
  if (item.kind === 'scalar' && typeof item.value === 'string') {
    if (/^https?:\/\//.test(item.value)) return r.invalid(item, `${what}: ${NOT_LOCAL.remote}`);
    return localPath(r, item, item.value, what);
  }
  if (item.kind !== 'map') return r.invalid(item, `${what} expects a file path or \`local: path\`, not ${describe(item)}`);
  let bad = false;
  for (const e of item.entries) {
    if (e.key === 'local') continue;
    bad = true;
    const why = NOT_LOCAL[e.key];
    r.invalid(e.keyLoc, why ? `${what}: ${why}` : `${what}: unknown key \`${e.key}\`; an entry is \`local: path\``);
  }
  const local = entry(item, 'local');
  if (bad) return undefined;
  if (!local) return r.invalid(item, `${what}: an entry needs \`local: path\``);
  if (local.value.kind !== 'scalar' || typeof local.value.value !== 'string') return r.invalid(local.value, `${what}:local expects a file path, not ${describe(local.value)}`);
  return localPath(r, local.value, local.value.value, what);
}

function localPath(r: Reader, node: PNode, written: string, what: string): string | undefined {
  if (written.includes('*')) return r.invalid(node, `${what}: a child pipeline file is one file, not a glob (${written})`);
  if (written.includes('$')) return r.invalid(node, `${what}: variables in a child pipeline's path are not supported (${written})`);
  const path = normalizePath(written);
  if (path === '' || path.startsWith('../')) return r.invalid(node, `${what}: ${written} is outside the project`);
  return path;
}
