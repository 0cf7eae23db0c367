// Who or what started a pipeline, in words, beside its source: "web · admin token",
// "schedule · nightly", "push · octocat". The title says what kind of name it is.

import type { PipelineSummary, TriggeredBy } from '../api/types.js';

const FORGES: Record<string, string> = { github: 'GitHub', gitea: 'Gitea', gitlab: 'GitLab', git: 'git' };

export function triggerTitle(t: TriggeredBy): string {
  switch (t.kind) {
    case 'token':
      return `${t.tokenKind === 'admin' ? 'admin' : 'API'} token #${t.tokenId}`;
    case 'user':
      return `user #${t.userId}`;
    case 'schedule':
      return `schedule #${t.scheduleId}`;
    case 'trigger_token':
      return `trigger token #${t.tokenId}`;
    case 'forge_user':
      return `${FORGES[t.provider] ?? t.provider} account`;
    case 'local_user':
      return 'the account that ran gantry run';
  }
}

/** The pipeline's source and, when recorded, who or what triggered it. */
export function Trigger({ p }: { p: Pick<PipelineSummary, 'source' | 'triggeredBy'> }) {
  const by = p.triggeredBy;
  return (
    <span class="trigger">
      <span class="source">{p.source}</span>
      {by ? (
        <>
          <span class="muted"> · </span>
          <span class={`who who-${by.kind}`} title={triggerTitle(by)}>
            {by.name}
          </span>
        </>
      ) : null}
    </span>
  );
}
