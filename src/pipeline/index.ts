// The pipeline compiler's public surface: GitLab-CI-style YAML in, a CompiledPipeline out.

export { compilePipeline } from './compile.js';
export { findPipelineFile, dirProjectFiles, memoryProjectFiles, PIPELINE_FILES } from './files.js';
export { formatDiagnostic, sortDiagnostics } from './diagnostics.js';
export { expandVariables, resolveVariables } from './variables.js';
export { parseDuration } from './duration.js';
export { evaluateExpression } from './expression-eval.js';
export type * from './types.js';
export { compileChildPipeline, childPredefined, downstreamVariables, MAX_DESCENDANTS_DEPTH } from './child.js';
