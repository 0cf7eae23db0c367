// `gantry hook post-receive`: a plain git server's way in. Installed as (or called from) a bare
// repository's hooks/post-receive, it reads git's `OLD NEW REF` lines and reports each pushed
// branch or tag to the server (POST /projects/:project/pushes), which runs the pipeline of NEW
// with CI_PIPELINE_SOURCE=push and `rules: changes` from OLD..NEW. What it prints, the pusher
// sees as `remote:` lines. The push itself has already happened: a failure here only means no
// pipeline, so it is said loudly and the exit status is 1.

import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Command } from 'commander';
import type { DeliveryJson } from '../../client/api-client.js';
import { GantryError } from '../../domain/errors.js';
import type { CliContext } from '../context.js';
import { printJson, remoteOptions, withClient, type RemoteFlags } from './remote.js';

interface HookFlags extends RemoteFlags {
  project: string;
}

const ZERO = /^0+$/;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** git's post-receive input: one `OLD NEW REF` line per updated ref. */
export function parsePostReceive(input: string): Array<{ before: string; after: string; ref: string }> {
  const out: Array<{ before: string; after: string; ref: string }> = [];
  for (const line of input.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) (\S+)$/.exec(line.trim());
    if (!m) throw new GantryError('GANTRY_E_USAGE', `not a post-receive line (OLD NEW REF): ${JSON.stringify(line.slice(0, 200))}`);
    out.push({ before: m[1]!, after: m[2]!, ref: m[3]! });
  }
  return out;
}

/**
 * Who pushed: the account name a git server's own shell gives the hook (GitLab's GL_USERNAME,
 * Gitea's GITEA_PUSHER_NAME, a web server's REMOTE_USER for smart HTTP), else the system account
 * the hook runs as (the ssh login on a plain server). Null when none can be told.
 */
export function pusherName(env: NodeJS.ProcessEnv): string | null {
  for (const v of [env.GL_USERNAME, env.GITEA_PUSHER_NAME, env.REMOTE_USER]) if (v && v.trim() !== '') return v.trim();
  try {
    return os.userInfo().username || null;
  } catch {
    return null;
  }
}

export function registerHook(program: Command, ctx: CliContext): void {
  const hook = program.command('hook').description('Git hooks for git servers without webhooks');
  const cmd = hook
    .command('post-receive')
    .description("Start a pipeline for each branch or tag pushed; reads git's post-receive input (OLD NEW REF lines) on stdin")
    .requiredOption('-p, --project <project>', 'project name or id')
    .addHelpText(
      'after',
      '\nInstall in a bare repository as hooks/post-receive (executable):\n' +
        '  #!/bin/sh\n' +
        '  GANTRY_TOKEN=$(cat /etc/gantry/web.token) exec gantry hook post-receive --server http://ci:8080 --project web\n' +
        'Deleted refs are skipped; refs that are neither branches nor tags are reported and ignored by the server.',
    );
  remoteOptions(cmd, 'print the server\'s record of each reported ref as a JSON array');
  cmd.action(async (flags: HookFlags) => {
    const pushes = parsePostReceive(await readStdin());
    const pusher = pusherName(process.env);
    await withClient(ctx, flags, async (client) => {
      const answers: Array<DeliveryJson & { ref: string }> = [];
      for (const p of pushes) {
        if (ZERO.test(p.after)) {
          if (!flags.json) ctx.stdout.write(`gantry: ${p.ref} deleted, no pipeline\n`);
          continue;
        }
        // One id per ref for this push: the client's own resend of it is a duplicate, not a second pipeline.
        const d = await client.reportPush(flags.project, pusher ? { ...p, pusher: { name: pusher } } : p, `hook-${randomUUID()}`);
        answers.push({ ...d, ref: p.ref });
        if (flags.json) continue;
        if (d.status === 'ignored') ctx.stdout.write(`gantry: ${p.ref} ignored: ${d.reason ?? ''}\n`);
        else ctx.stdout.write(`gantry: ${p.ref} at ${p.after.slice(0, 12)}: pipeline queued (delivery ${d.id})\n`);
      }
      if (flags.json) printJson(ctx, answers);
    });
  });
}
