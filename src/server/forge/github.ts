// GitHub's commit status: POST {api}/repos/{owner}/{repo}/statuses/{sha} with {state, target_url,
// description, context}; state is pending, success, failure or error. GitHub keeps at most 1,000
// statuses per sha and context, and cuts descriptions at 140 characters.

import { GANTRY_VERSION } from '../../domain/version.js';
import { describeStatus, ownerRepo, type ForgeTarget, type StatusFacts, type StatusRequest } from './status.js';

export function githubStatus(base: string, t: ForgeTarget, f: StatusFacts, state: string): StatusRequest {
  return {
    url: `${base}/repos/${ownerRepo(t.repository)}/statuses/${f.sha}`,
    headers: {
      authorization: `Bearer ${t.token}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      // GitHub refuses requests without a User-Agent.
      'user-agent': `gantry/${GANTRY_VERSION}`,
    },
    body: {
      state,
      context: t.context,
      description: describeStatus(f).slice(0, 140),
      ...(f.targetUrl ? { target_url: f.targetUrl } : {}),
    },
    state,
  };
}
