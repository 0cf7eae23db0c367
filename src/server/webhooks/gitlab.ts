// GitLab's webhooks: `X-Gitlab-Event` names the event ("Push Hook", "Tag Push Hook", "Merge
// Request Hook"), `X-Gitlab-Event-UUID` identifies the delivery (a retry keeps it). The payload's
// `object_kind` says the same as the header and is what is read.

import { header, type Headers } from './signature.js';
import { actorOf, ignored, int, optStr, pushOf, raw, sha, str, type Parsed } from './payload.js';

export const gitlab = {
  eventName: (h: Headers) => header(h, 'x-gitlab-event'),
  deliveryId: (h: Headers) => header(h, 'x-gitlab-event-uuid'),

  parse(event: string, p: unknown): Parsed {
    const kind = raw(p, 'object_kind');
    switch (kind) {
      case 'push':
      case 'tag_push':
        return pushOf(p, false);
      case 'merge_request': {
        const action = optStr(p, 'object_attributes.action');
        // `update` is sent for any edit (title, labels, ...); only one with new commits carries
        // `oldrev`, and only that one runs a pipeline, as in GitLab.
        if (action === 'update' && optStr(p, 'object_attributes.oldrev') === null) return ignored('merge request updated without new commits');
        if (action !== 'open' && action !== 'reopen' && action !== 'update') {
          return ignored(`merge request action ${JSON.stringify(action)} does not start pipelines`);
        }
        const iid = int(p, 'object_attributes.iid');
        return {
          kind: 'event',
          event: {
            kind: 'merge_request',
            iid,
            title: optStr(p, 'object_attributes.title') ?? '',
            sourceBranch: str(p, 'object_attributes.source_branch'),
            targetBranch: str(p, 'object_attributes.target_branch'),
            headSha: sha(p, 'object_attributes.last_commit.id'),
            headRef: `refs/merge-requests/${iid}/head`,
            sourceRepositoryUrl: optStr(p, 'object_attributes.source.git_http_url'),
            fromFork: int(p, 'object_attributes.source_project_id') !== int(p, 'object_attributes.target_project_id'),
            // GitLab names only the author's id; `user` is who opened or updated the request.
            actor: actorOf(p, ['user.username', 'user.name']),
          },
        };
      }
      default:
        return ignored(`GitLab event ${JSON.stringify(typeof kind === 'string' ? kind : event)} does not start pipelines`);
    }
  },
};
