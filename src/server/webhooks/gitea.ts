// Gitea's and Forgejo's webhooks (the "Gitea" kind of hook): `X-Gitea-Event` (Forgejo also
// `X-Forgejo-Event`) names the event, `X-Gitea-Delivery` / `X-Forgejo-Delivery` the delivery.
// Payloads follow GitHub's names with a few differences: a pull request's update is the action
// `synchronized`, and there is no `ping` (a test delivery is a push).

import { header, type Headers } from './signature.js';
import { githubStylePullRequest, ignored, pushOf, raw, type Parsed } from './payload.js';

const PR_ACTIONS = ['opened', 'synchronized', 'reopened'];

export const gitea = {
  eventName: (h: Headers) => header(h, 'x-gitea-event') ?? header(h, 'x-forgejo-event'),
  deliveryId: (h: Headers) => header(h, 'x-gitea-delivery') ?? header(h, 'x-forgejo-delivery'),

  parse(event: string, p: unknown): Parsed {
    switch (event) {
      case 'push':
        return pushOf(p, false);
      case 'pull_request':
        return githubStylePullRequest(p, PR_ACTIONS, {
          head: raw(p, 'pull_request.head.repo_id') ?? raw(p, 'pull_request.head.repo.id'),
          base: raw(p, 'pull_request.base.repo_id') ?? raw(p, 'pull_request.base.repo.id'),
        });
      default:
        return ignored(`Gitea event ${JSON.stringify(event)} does not start pipelines`);
    }
  },
};
