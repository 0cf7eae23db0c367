// Gitea's (and Forgejo's) commit status: POST {server}/api/v1/repos/{owner}/{repo}/statuses/{sha}
// with CreateStatusOption {state, target_url, description, context}; state is pending, success,
// error, failure (or warning). A personal access token goes as `Authorization: token ...`.

import { GANTRY_VERSION } from '../../domain/version.js';
import { describeStatus, ownerRepo, type ForgeTarget, type StatusFacts, type StatusRequest } from './status.js';

export function giteaStatus(base: string, t: ForgeTarget, f: StatusFacts, state: string): StatusRequest {
  return {
    url: `${base}/api/v1/repos/${ownerRepo(t.repository)}/statuses/${f.sha}`,
    headers: { authorization: `token ${t.token}`, accept: 'application/json', 'user-agent': `gantry/${GANTRY_VERSION}` },
    body: {
      state,
      context: t.context,
      description: describeStatus(f),
      ...(f.targetUrl ? { target_url: f.targetUrl } : {}),
    },
    state,
  };
}
