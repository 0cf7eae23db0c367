// `gantry project create|list|show|protect|share`: a server's projects.

import type { Command } from 'commander';
import type { ProjectJson } from '../../client/api-client.js';
import type { CliContext } from '../context.js';
import { GantryError } from '../../domain/errors.js';
import { limitsText } from '../../views/limits-text.js';
import { printJson, printTable, remoteOptions, withClient, type RemoteFlags } from './remote.js';

export function registerProject(program: Command, ctx: CliContext): void {
  const project = program.command('project').description("A Gantry server's projects: a name and the git repository pipelines come from");

  const create = project
    .command('create')
    .description('Create a project')
    .argument('<name>', 'letters, digits, ".", "_", "-"; starts with a letter or digit; not all digits')
    .requiredOption('--git-url <url>', 'what the server runs `git clone` on: a URL, or a path on the server');
  remoteOptions(create, 'print the project as JSON: {id, name, gitUrl, createdAt}');
  create.action(async (name: string, flags: RemoteFlags & { gitUrl: string }) => {
    await withClient(ctx, flags, async (client) => {
      const p = await client.createProject(name, flags.gitUrl);
      if (flags.json) return printJson(ctx, p);
      ctx.stdout.write(`project ${p.name} created (id ${p.id})\n`);
    });
  });

  const list = project.command('list').description('List every project, oldest first');
  remoteOptions(list, 'print {items: [{id, name, gitUrl, createdAt}]}');
  list.action(async (flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      const items = await client.listProjects();
      if (flags.json) return printJson(ctx, { items });
      if (items.length === 0) {
        ctx.stdout.write('no projects yet: create one with `gantry project create NAME --git-url URL`\n');
        return;
      }
      printTable(ctx, ['ID', 'NAME', 'CREATED (UTC)', 'GIT URL'], items.map((p) => [String(p.id), p.name, utc(p.createdAt), p.gitUrl]));
    });
  });

  const show = project.command('show').description('Show one project').argument('<project>', 'project name or id');
  remoteOptions(show, 'print the project as JSON: {id, name, gitUrl, createdAt, requireSandbox, network, forkNetwork, jobLimits, forkIdTokens, ...}');
  show.action(async (name: string, flags: RemoteFlags) => {
    await withClient(ctx, flags, async (client) => {
      const p: ProjectJson = await client.getProject(name);
      if (flags.json) return printJson(ctx, p);
      ctx.stdout.write(`id:       ${p.id}\nname:     ${p.name}\ngit URL:  ${p.gitUrl}\ncreated:  ${utc(p.createdAt)} UTC\n`);
      if (p.requireSandbox !== undefined) ctx.stdout.write(isolationLines(p));
      if (p.forkIdTokens !== undefined) ctx.stdout.write(`id tokens: ${p.forkIdTokens ? 'also for pipelines from forks' : 'not for pipelines from forks'}\n`);
      if (p.weight !== undefined) ctx.stdout.write(`share:    weight ${p.weight}; urgent jobs: ${p.urgentJobs?.length ? p.urgentJobs.join(' ') : 'none'}\n`);
    });
  });

  const protect = project
    .command('protect')
    .description('Show or set the protected refs: their pipelines get protected variables, and only maintainers may run them by hand')
    .argument('<project>', 'project name or id')
    .option('--branch <glob...>', "protected branch names or globs (`*`: any characters, `/` too), replacing the list")
    .option('--tag <glob...>', 'protected tag names or globs, replacing the list')
    .option('--none', 'protect nothing');
  remoteOptions(protect, 'print {branches, tags}');
  protect.addHelpText('after', '\nWithout options it shows the lists. --branch alone keeps the tags, --tag alone the branches.');
  protect.action(async (name: string, flags: RemoteFlags & { branch?: string[]; tag?: string[]; none?: boolean }) => {
    await withClient(ctx, flags, async (client) => {
      let refs = await client.getProtectedRefs(name);
      if (flags.none) refs = await client.setProtectedRefs(name, { branches: [], tags: [] });
      else if (flags.branch !== undefined || flags.tag !== undefined) {
        refs = await client.setProtectedRefs(name, { branches: flags.branch ?? refs.branches, tags: flags.tag ?? refs.tags });
      }
      if (flags.json) return printJson(ctx, refs);
      const words = (globs: string[]) => (globs.length === 0 ? 'none' : globs.join(' '));
      ctx.stdout.write(`protected branches: ${words(refs.branches)}\nprotected tags:     ${words(refs.tags)}\n`);
    });
  });

  registerShare(project, ctx);
}

/** `gantry project share`: the project's fair-share weight and urgent jobs (RUNNING.md, "Fair share"). */
function registerShare(project: Command, ctx: CliContext): void {
  const share = project
    .command('share')
    .description("Show or set the project's share of the fleet: its weight (admin) and its urgent jobs (maintainer)")
    .argument('<project>', 'project name or id')
    .option('--weight <n>', 'offered work n times as often as a project of weight 1 when both wait (1 to 1000)')
    .option('--urgent-jobs <glob...>', "job names or globs that go first within the project's share (e.g. deploy*), replacing the list")
    .option('--no-urgent-jobs', 'no urgent jobs: every job in priority order');
  remoteOptions(share, 'print {weight, urgentJobs}');
  share.addHelpText('after', '\nWithout options it shows the share. A weight takes from every other project, so only an admin sets it.');
  share.action(async (name: string, flags: RemoteFlags & { weight?: string; urgentJobs?: string[] | boolean }) => {
    await withClient(ctx, flags, async (client) => {
      const patch: { weight?: number; urgentJobs?: string[] } = {};
      if (flags.weight !== undefined) {
        const weight = Number(flags.weight);
        if (!Number.isInteger(weight) || weight < 1 || weight > 1000) throw new GantryError('GANTRY_E_USAGE', `--weight ${flags.weight}: use a whole number from 1 to 1000`);
        patch.weight = weight;
      }
      // Commander gives `true` when neither flag is used, `false` for --no-urgent-jobs.
      if (Array.isArray(flags.urgentJobs)) patch.urgentJobs = flags.urgentJobs;
      else if (flags.urgentJobs === false) patch.urgentJobs = [];
      const p = Object.keys(patch).length > 0 ? await client.updateProject(name, patch) : await client.getProject(name);
      if (flags.json) return printJson(ctx, { weight: p.weight ?? 1, urgentJobs: p.urgentJobs ?? [] });
      ctx.stdout.write(`weight:      ${p.weight ?? 1}\nurgent jobs: ${p.urgentJobs?.length ? p.urgentJobs.join(' ') : 'none'}\n`);
    });
  });
}

function isolationLines(p: ProjectJson): string {
  return (
    `sandbox:  ${p.requireSandbox ? 'required for every job' : 'required for pipelines from forks and network none'}\n` +
    `network:  ${p.network ?? 'full'} (pipelines from forks: ${p.forkNetwork ?? 'full'})\n` +
    `limits:   ${limitsText(p.jobLimits, "the agent's own")}\n`
  );
}

export function utc(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}
