// `gantry validate [FILE]`: compile the pipeline as a push to the current branch would, print
// every diagnostic and a one-line verdict. The compiler does the work; this file only prints.

import path from 'node:path';
import type { Command } from 'commander';
import { gitMaybe } from '../../agent/git.js';
import { GantryError } from '../../domain/errors.js';
import { compilePipeline, dirProjectFiles, findPipelineFile, formatDiagnostic, type CompileContext, type Diagnostic } from '../../pipeline/index.js';
import type { CliContext } from '../context.js';

interface ValidateFlags {
  json?: boolean;
}

export function registerValidate(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .argument('[file]', 'pipeline file (default: .gantry.yml, then .gitlab-ci.yml, at the repository root)')
    .description('Check a pipeline file and list every problem with its file, line and column')
    .option('--json', 'print one JSON object: {valid, errors, warnings, jobs}')
    .addHelpText('after', '\nExit status: 0 if the pipeline is valid, 1 if not.')
    .action(async (file: string | undefined, flags: ValidateFlags) => {
      await validate(ctx, file, flags);
    });
}

async function validate(ctx: CliContext, fileArg: string | undefined, flags: ValidateFlags): Promise<void> {
  const cwd = process.cwd();
  const repoRoot = (await gitMaybe(cwd, ['rev-parse', '--show-toplevel'])) ?? cwd;
  let root = repoRoot;
  let file: string | null;
  if (fileArg) {
    const abs = path.resolve(cwd, fileArg);
    // A file outside the repository is validated as the root file of its own directory.
    if (path.relative(repoRoot, abs).startsWith('..')) root = path.dirname(abs);
    file = path.relative(root, abs).split(path.sep).join('/');
  } else {
    file = findPipelineFile(dirProjectFiles(root));
    if (file === null) throw new GantryError('GANTRY_E_PIPELINE_NOT_FOUND', `no .gantry.yml or .gitlab-ci.yml at ${root}`);
  }
  const files = dirProjectFiles(root);
  if (files.read(file) === null) throw new GantryError('GANTRY_E_PIPELINE_NOT_FOUND', `${fileArg ?? file} does not exist`);

  const compileCtx: CompileContext = { variables: await defaultVariables(root), changedFiles: null, files };
  const result = compilePipeline(file, compileCtx);
  const errors = result.ok === false ? result.errors : [];
  const warnings = result.ok === true ? result.pipeline.warnings : result.warnings;
  const jobs = result.ok === true ? result.pipeline.jobs : [];
  if (errors.length > 0) ctx.exitCode = 1;

  if (flags.json) {
    const plain = (d: Diagnostic) => ({ code: d.code, message: d.message, file: d.location.file, line: d.location.line, column: d.location.column });
    const out = { valid: errors.length === 0, errors: errors.map(plain), warnings: warnings.map(plain), jobs: jobs.map((j) => j.name) };
    ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  for (const d of [...errors, ...warnings]) ctx.stdout.write(`${formatDiagnostic(d, { color: ctx.config.color })}\n`);
  if (result.ok === true) {
    const stages = new Set(jobs.map((j) => j.stage)).size;
    ctx.stdout.write(`${file} is valid: ${plural(jobs.length, 'job')} in ${plural(stages, 'stage')}${warnings.length ? `, ${plural(warnings.length, 'warning')}` : ''}\n`);
  } else if (result.ok === 'filtered') {
    ctx.stdout.write(`${file} is valid, but no pipeline would run for a push to this branch: ${result.reason}\n`);
  } else {
    ctx.stdout.write(`${file}: ${plural(errors.length, 'error')}${warnings.length ? `, ${plural(warnings.length, 'warning')}` : ''}\n`);
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What a push of the current branch would see; values git cannot tell are left out. */
async function defaultVariables(root: string): Promise<Record<string, string>> {
  const vars: Record<string, string> = { CI: 'true', GITLAB_CI: 'true', CI_PIPELINE_SOURCE: 'push', CI_PROJECT_DIR: root };
  const [branch, sha, originHead] = await Promise.all([
    gitMaybe(root, ['symbolic-ref', '--quiet', '--short', 'HEAD']),
    gitMaybe(root, ['rev-parse', '--verify', '--quiet', 'HEAD']),
    gitMaybe(root, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']),
  ]);
  if (branch) {
    vars.CI_COMMIT_BRANCH = branch;
    vars.CI_COMMIT_REF_NAME = branch;
  }
  if (sha) vars.CI_COMMIT_SHA = sha;
  vars.CI_DEFAULT_BRANCH = originHead ? originHead.replace(/^origin\//, '') : branch && ['main', 'master'].includes(branch) ? branch : 'main';
  return vars;
}
