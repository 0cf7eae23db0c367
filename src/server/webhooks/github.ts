// GitHub's webhooks: `X-GitHub-Event` names the event, `X-GitHub-Delivery` identifies the
// delivery (a redelivery keeps it). Shapes: docs.github.com "Webhook events and payloads",
// tested against @octokit/webhooks-examples.

import { header, type Headers } from './signature.js';
import { githubStylePullRequest, ignored, pushOf, raw, type Parsed } from './payload.js';

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
      case 'pull_request':
        return githubStylePullRequest(p, PR_ACTIONS, { head: raw(p, 'pull_request.head.repo.id'), base: raw(p, 'pull_request.base.repo.id') });
      default:
        return ignored(`GitHub event ${JSON.stringify(event)} does not start pipelines`);
    }
  },
};
