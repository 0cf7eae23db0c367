// GitHub's webhooks: `X-GitHub-Event` names the event, `X-GitHub-Delivery` identifies the
// delivery (a redelivery keeps it). Shapes: docs.github.com "Webhook events and payloads",
// tested against @octokit/webhooks-examples.

import { header, type Headers } from './signature.js';
import { ignored, int, optStr, pushOf, raw, sha, str, type Parsed } from './payload.js';

const PR_ACTIONS = ['opened', 'synchronize', 'reopened'];

export const github = {
  eventName: (h: Headers) => header(h, 'x-github-event'),
  deliveryId: (h: Headers) => header(h, 'x-github-delivery'),

  parse(event: string, p: unknown): Parsed {
    switch (event) {
      case 'ping':
        return { kind: 'ping' };
      case 'push':
        return pushOf(p, raw(p, 'deleted') === true);
      case 'pull_request': {
        const action = str(p, 'action');
        if (!PR_ACTIONS.includes(action)) return ignored(`pull_request action ${JSON.stringify(action)} does not start pipelines`);
        const number = int(p, 'number');
        // A fork deleted since has no head repository: untrusted all the same.
        const headRepo = raw(p, 'pull_request.head.repo.id');
        return {
          kind: 'event',
          event: {
            kind: 'merge_request',
            iid: number,
            title: optStr(p, 'pull_request.title') ?? '',
            sourceBranch: str(p, 'pull_request.head.ref'),
            targetBranch: str(p, 'pull_request.base.ref'),
            headSha: sha(p, 'pull_request.head.sha'),
            headRef: `refs/pull/${number}/head`,
            sourceRepositoryUrl: optStr(p, 'pull_request.head.repo.clone_url'),
            fromFork: headRepo === undefined || headRepo === null || headRepo !== raw(p, 'pull_request.base.repo.id'),
          },
        };
      }
      default:
        return ignored(`GitHub event ${JSON.stringify(event)} does not start pipelines`);
    }
  },
};
