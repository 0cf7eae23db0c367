// Gitea's and Forgejo's webhooks (the "Gitea" kind of hook): `X-Gitea-Event` (Forgejo also
// `X-Forgejo-Event`) names the event, `X-Gitea-Delivery` / `X-Forgejo-Delivery` the delivery.
// Payloads follow GitHub's names with a few differences: a pull request's update is the action
// `synchronized`, and there is no `ping` (a test delivery is a push).

import { header, type Headers } from './signature.js';
import { ignored, int, optStr, pushOf, raw, sha, str, type Parsed } from './payload.js';

const PR_ACTIONS = ['opened', 'synchronized', 'reopened'];

export const gitea = {
  eventName: (h: Headers) => header(h, 'x-gitea-event') ?? header(h, 'x-forgejo-event'),
  deliveryId: (h: Headers) => header(h, 'x-gitea-delivery') ?? header(h, 'x-forgejo-delivery'),

  parse(event: string, p: unknown): Parsed {
    switch (event) {
      case 'push':
        return pushOf(p, false);
      case 'pull_request': {
        const action = str(p, 'action');
        if (!PR_ACTIONS.includes(action)) return ignored(`pull_request action ${JSON.stringify(action)} does not start pipelines`);
        const number = int(p, 'number');
        const headRepo = raw(p, 'pull_request.head.repo_id') ?? raw(p, 'pull_request.head.repo.id');
        const baseRepo = raw(p, 'pull_request.base.repo_id') ?? raw(p, 'pull_request.base.repo.id');
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
            fromFork: headRepo === undefined || headRepo === null || headRepo !== baseRepo,
          },
        };
      }
      default:
        return ignored(`Gitea event ${JSON.stringify(event)} does not start pipelines`);
    }
  },
};
