// `include: local`: loads included files (globs, nested includes) and merges them under the
// including file, which wins on every key, as GitLab does. Other include kinds need a network
// or a GitLab instance and are rejected.

import type { SourceLocation } from '../domain/errors.js';
import type { Diagnostics } from './diagnostics.js';
import { normalizePath } from './files.js';
import { mergeMaps, withoutKeys } from './merge.js';
import { inputValues, interpolate, plain } from './inputs.js';
import { describe, entry, parseYamlWithHeader, type PEntry, type PMap, type PNode } from './node.js';
import { firstMatch, readRules, type RuleEnv } from './rules.js';
import type { ProjectFiles } from './types.js';
import { Reader } from './values.js';
import { expandVariables } from './variables.js';

// GitLab's default limit per pipeline; every include counts, a file included twice twice.
const MAX_INCLUDES = 150;
const MAX_DEPTH = 100;
const INCLUDE = new Set(['include']);
const OTHER_KINDS = ['remote', 'template', 'project', 'component', 'file'];

interface State {
  files: ProjectFiles;
  diags: Diagnostics;
  loaded: Set<string>;
  /** Includes so far, duplicates counted. */
  count: number;
  /** The variables an include sees, for its path and its rules. */
  env: RuleEnv;
}

/** Parses `file` and everything it includes into one mapping; null if the file itself is unusable. */
export function loadPipelineTree(file: string, files: ProjectFiles, diags: Diagnostics, env: RuleEnv): PMap | null {
  const text = files.read(file);
  if (text === null) {
    diags.error('GANTRY_E_PIPELINE_NOT_FOUND', `pipeline file ${file} does not exist`, { file, line: 1, column: 1 });
    return null;
  }
  const parsed = parseYamlWithHeader(file, text, diags);
  let root = parsed.body;
  // The pipeline file's own inputs take their defaults.
  if (parsed.header && root !== null) {
    const values = inputValues(parsed.header, undefined, { file, line: 1, column: 1 }, diags);
    if (values === null) return null;
    root = interpolate(root, values, diags);
  }
  if (root === null) {
    if (!diags.hasErrors) diags.error('GANTRY_E_EMPTY_PIPELINE', 'the pipeline file is empty: define at least one job', { file, line: 1, column: 1 });
    return null;
  }
  if (root.kind !== 'map') {
    diags.error('GANTRY_E_INVALID_VALUE', `the pipeline file must be a mapping of keywords and jobs, not ${describe(root)}`, root.loc);
    return null;
  }
  const state: State = { files, diags, loaded: new Set([normalizePath(file)]), count: 0, env };
  return expand(root, state, 0);
}

function expand(map: PMap, state: State, depth: number): PMap {
  const inc = entry(map, 'include');
  if (!inc) return map;
  let base: PMap | null = null;
  for (const target of targets(inc.value, state)) {
    const loaded = loadOne(target, state, depth);
    if (loaded) base = base ? mergeMaps(base, loaded) : loaded;
  }
  const own = withoutKeys(map, INCLUDE);
  return base ? mergeMaps(base, own) : own;
}

function loadOne({ path, loc, inputs }: Target, state: State, depth: number): PMap | null {
  state.count++;
  if (state.count === MAX_INCLUDES + 1) {
    state.diags.error('GANTRY_E_INCLUDE', `more than ${MAX_INCLUDES} includes (GitLab's limit; a file included twice counts twice)`, loc);
  }
  if (state.count > MAX_INCLUDES) return null;
  // The same file included twice with the same inputs (or in a loop) is read once, like GitLab's
  // duplicate handling; with other inputs it is another file.
  const key = inputs ? `${path}\0${JSON.stringify(plain(inputs.value))}` : path;
  if (state.loaded.has(key)) return null;
  if (depth >= MAX_DEPTH) {
    state.diags.error('GANTRY_E_INCLUDE', `includes are nested more than ${MAX_DEPTH} levels deep`, loc);
    return null;
  }
  state.loaded.add(key);
  const text = state.files.read(path);
  if (text === null) {
    state.diags.error('GANTRY_E_INCLUDE', `included file ${path} does not exist`, loc);
    return null;
  }
  const parsed = parseYamlWithHeader(path, text, state.diags);
  let tree = parsed.body;
  if (tree === null) return null;
  if (parsed.header || inputs) {
    const values = inputValues(parsed.header, inputs, loc, state.diags);
    if (values === null) return null;
    tree = interpolate(tree, values, state.diags);
  }
  if (tree.kind !== 'map') {
    state.diags.error('GANTRY_E_INCLUDE', `included file ${path} must be a mapping of keywords and jobs, not ${describe(tree)}`, tree.loc);
    return null;
  }
  return expand(tree, state, depth + 1);
}

interface Target {
  path: string;
  loc: SourceLocation;
  /** The include's `inputs:`, for the file's `spec:inputs`. */
  inputs?: PEntry;
}

function targets(node: PNode, state: State): Target[] {
  const out: Target[] = [];
  const items = node.kind === 'seq' ? node.items : [node];
  for (const item of items) {
    if (item.kind === 'scalar' && typeof item.value === 'string') {
      if (/^https?:\/\//.test(item.value)) {
        state.diags.error('GANTRY_E_INCLUDE', 'include: remote is not supported: Gantry only includes local files (include: local)', item.loc);
        continue;
      }
      out.push(...localTargets(item.value, item.loc, state));
    } else if (item.kind === 'map') {
      const local = entry(item, 'local');
      const rules = entry(item, 'rules');
      if (rules && local) {
        const list = readRules(new Reader(state.diags), rules.value, 'include:rules', 'include');
        if (!list) continue;
        const rule = firstMatch(list, state.env);
        if (!rule || rule.when === 'never') continue;
      }
      const inputs = entry(item, 'inputs');
      for (const e of item.entries) {
        if (e.key === 'local' || e.key === 'rules' || e.key === 'inputs') continue;
        if (OTHER_KINDS.includes(e.key)) {
          state.diags.error('GANTRY_E_INCLUDE', `include: ${e.key} is not supported: Gantry only includes local files (include: local)`, e.keyLoc);
        } else {
          state.diags.error('GANTRY_E_INCLUDE', `include:${e.key} is not supported; an include entry is \`local: path\``, e.keyLoc);
        }
      }
      if (!local) {
        if (item.entries.length === 0) state.diags.error('GANTRY_E_INCLUDE', 'an include entry needs `local: path`', item.loc);
        continue;
      }
      if (local.value.kind !== 'scalar' || typeof local.value.value !== 'string') {
        state.diags.error('GANTRY_E_INCLUDE', `include:local expects a file path, not ${describe(local.value)}`, local.value.loc);
        continue;
      }
      out.push(...localTargets(local.value.value, local.value.loc, state).map((t) => (inputs ? { ...t, inputs } : t)));
    } else {
      state.diags.error('GANTRY_E_INCLUDE', `include expects a file path, a list or \`local: path\`, not ${describe(item)}`, item.loc);
    }
  }
  return out;
}

function localTargets(written: string, loc: SourceLocation, state: State): Target[] {
  const raw = written.includes('$') ? expandVariables(written, state.env.vars()) : written;
  const path = normalizePath(raw.trim());
  if (!/\.ya?ml$/.test(path)) {
    state.diags.error('GANTRY_E_INCLUDE', `included file ${raw} must be a .yml or .yaml file`, loc);
    return [];
  }
  if (!path.includes('*')) return [{ path, loc }];
  const match = includeWildcard(path);
  const found = state.files.list().filter((f) => match(f));
  if (found.length === 0) state.diags.error('GANTRY_E_INCLUDE', `include pattern ${raw} matches no file`, loc);
  return found.map((p) => ({ path: p, loc }));
}

/**
 * GitLab's include wildcards (Repository#search_files_by_wildcard_path): `*` is any characters but
 * `/`, `**` any characters including `/` (and none), everything else literal. So `ci/*.yml` is the
 * files of ci/ only, `ci/**.yml` those of ci/ and below, and `ci/**\/*.yml` those below ci/ only.
 */
function includeWildcard(pattern: string): (path: string) => boolean {
  const source = pattern
    .split('**')
    .map((part) => part.split('*').map((lit) => lit.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  const re = new RegExp(`^${source}$`, 's');
  return (p) => re.test(p);
}
