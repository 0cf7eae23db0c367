// A readable projection of a CompiledPipeline for the fixture corpus: defaults are left out so
// that each expected.json shows only what the fixture is about.

import type { CompiledJob, CompiledPipeline } from '../../src/pipeline/types.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const EXPIRE_DEFAULT = 30 * 86400;

export function projectPipeline(p: CompiledPipeline): Record<string, Json> {
  const out: Record<string, Json> = { stages: p.stages };
  if (Object.keys(p.variables).length > 0) out.variables = p.variables;
  if (p.workflowName !== null) out.workflowName = p.workflowName;
  if (p.warnings.length > 0) out.warnings = p.warnings.map((w) => `${w.code} ${w.location.file}:${w.location.line}:${w.location.column}`);
  out.jobs = p.jobs.map(projectJob);
  return out;
}

function projectJob(j: CompiledJob): Record<string, Json> {
  const o: Record<string, Json> = { name: j.name, stage: j.stage };
  if (j.baseName !== j.name) o.baseName = j.baseName;
  if (j.beforeScript.length > 0) o.beforeScript = j.beforeScript;
  o.script = j.script;
  if (j.afterScript.length > 0) o.afterScript = j.afterScript;
  if (Object.keys(j.variables).length > 0) o.variables = j.variables;
  if (j.when !== 'on_success') o.when = j.when;
  if (j.allowFailure !== false) o.allowFailure = j.allowFailure as Json;
  const r = j.retry;
  if (r.max !== 0 || r.exitCodes !== null || r.when.length !== 1 || r.when[0] !== 'always') o.retry = r as unknown as Json;
  if (j.timeoutSeconds !== null) o.timeoutSeconds = j.timeoutSeconds;
  if (j.tags.length > 0) o.tags = j.tags;
  const needNames = j.needs.map((n) => (n.artifacts && !n.optional ? n.job : ({ job: n.job, artifacts: n.artifacts, optional: n.optional } as Json)));
  if (j.needsMode === 'dag') o.needs = needNames;
  else o.after = needNames;
  // Artifact sources are shown only when they differ from "every need that brings artifacts".
  const derived = j.needs.filter((n) => n.artifacts).map((n) => n.job);
  if (JSON.stringify(derived) !== JSON.stringify(j.artifactSources)) o.artifactSources = j.artifactSources;
  if (j.artifacts) {
    const a: Record<string, Json> = { paths: j.artifacts.paths };
    if (j.artifacts.exclude.length) a.exclude = j.artifacts.exclude;
    if (j.artifacts.untracked) a.untracked = true;
    if (j.artifacts.when !== 'on_success') a.when = j.artifacts.when;
    if (j.artifacts.expireInSeconds !== EXPIRE_DEFAULT) a.expireInSeconds = j.artifacts.expireInSeconds;
    if (j.artifacts.name !== null) a.name = j.artifacts.name;
    o.artifacts = a;
  }
  if (j.cache.length > 0) o.cache = j.cache as unknown as Json;
  if (j.resourceGroup !== null) o.resourceGroup = j.resourceGroup;
  if (j.interruptible) o.interruptible = true;
  if (j.environment !== null) o.environment = j.environment;
  if (j.environmentDetails) o.environmentDetails = j.environmentDetails as unknown as Json;
  if (j.priority !== 0) o.priority = j.priority;
  if (j.parallel) o.parallel = `${j.parallel.index}/${j.parallel.total}`;
  if (j.inheritedVariables) o.inheritedVariables = j.inheritedVariables;
  if (j.idTokens) o.idTokens = j.idTokens as unknown as Json;
  return o;
}
