// What a commit status says, whatever the forge: one HTTP request per forge (github.ts, gitea.ts,
// gitlab.ts), built from the pipeline's facts. Nothing here sends anything.

import type { PipelineStatus } from '../../domain/status.js';
import type { ForgeProvider } from '../../store/forge.js';
import { githubStatus } from './github.js';
import { giteaStatus } from './gitea.js';
import { gitlabStatus } from './gitlab.js';

export interface StatusFacts {
  pipelineId: number;
  status: PipelineStatus;
  sha: string;
  ref: string;
  /** The pipeline's page, when the server knows its public URL. */
  targetUrl: string | null;
}

export interface ForgeTarget {
  provider: ForgeProvider;
  baseUrl: string;
  repository: string;
  context: string;
  token: string;
}

export interface StatusRequest {
  url: string;
  headers: Record<string, string>;
  body: Record<string, string>;
  /** The forge's word for the state, remembered so an unchanged state is not sent twice. */
  state: string;
}

const WORDS: Record<PipelineStatus, string> = {
  created: 'is waiting',
  waiting_for_approval: "waits for a maintainer's approval",
  pending: 'is waiting',
  manual: 'waits for a manual job',
  scheduled: 'waits for a delayed job',
  running: 'is running',
  success: 'passed',
  failed: 'failed',
  canceled: 'was canceled',
  skipped: 'was skipped',
};

export function describeStatus(f: StatusFacts): string {
  return `Gantry pipeline #${f.pipelineId} ${WORDS[f.status]}`;
}

/** Each forge's state for a pipeline status (several statuses share one, so fewer requests go out). */
export function stateFor(provider: ForgeProvider, status: PipelineStatus): string {
  if (provider === 'gitlab') {
    return { created: 'pending', waiting_for_approval: 'pending', pending: 'pending', manual: 'pending', scheduled: 'pending', running: 'running', success: 'success', failed: 'failed', canceled: 'canceled', skipped: 'skipped' }[
      status
    ];
  }
  // GitHub and Gitea know pending, success, failure and error; a canceled pipeline is an error
  // (it neither passed nor failed), a skipped one a success (nothing that ran failed).
  return { created: 'pending', waiting_for_approval: 'pending', pending: 'pending', manual: 'pending', scheduled: 'pending', running: 'pending', success: 'success', failed: 'failure', canceled: 'error', skipped: 'success' }[
    status
  ];
}

export function statusRequest(t: ForgeTarget, f: StatusFacts): StatusRequest {
  const state = stateFor(t.provider, f.status);
  const base = t.baseUrl.replace(/\/+$/, '');
  if (t.provider === 'github') return githubStatus(base, t, f, state);
  if (t.provider === 'gitea') return giteaStatus(base, t, f, state);
  return gitlabStatus(base, t, f, state);
}

/** `owner/repo` as two escaped path segments. */
export function ownerRepo(repository: string): string {
  return repository.split('/').map(encodeURIComponent).join('/');
}
