// GitLab's commit status: POST {server}/api/v4/projects/:id/statuses/:sha, :id the numeric id or
// the URL-encoded path; {state, ref, name, target_url, description}; state is pending, running,
// success, failed, canceled (or skipped). `name` is the status's label (`context` is its alias).
// The token goes in the PRIVATE-TOKEN header.

import { GANTRY_VERSION } from '../../domain/version.js';
import { describeStatus, type ForgeTarget, type StatusFacts, type StatusRequest } from './status.js';

export function gitlabStatus(base: string, t: ForgeTarget, f: StatusFacts, state: string): StatusRequest {
  return {
    url: `${base}/api/v4/projects/${encodeURIComponent(t.repository)}/statuses/${f.sha}`,
    headers: { 'private-token': t.token, accept: 'application/json', 'user-agent': `gantry/${GANTRY_VERSION}` },
    body: {
      state,
      ref: f.ref,
      name: t.context,
      description: describeStatus(f),
      ...(f.targetUrl ? { target_url: f.targetUrl } : {}),
    },
    state,
  };
}
