// Who or what started a pipeline, beside its source (`CI_PIPELINE_SOURCE`): the token behind an
// API or UI trigger, the schedule, the trigger token, the forge account that pushed or opened the
// request, the person running `gantry run`. Recorded once, when the pipeline is created, as it was
// then: renaming a schedule or revoking a token later does not rewrite history.

import type { DeliveryProvider } from './git-event.js';

export type TriggeredBy =
  /** An API call or the web UI, with a person's or a script's token. */
  | { kind: 'token'; tokenId: number; tokenKind: 'admin' | 'api'; name: string }
  /** An API call or the web UI, by a person signed in with their user account. */
  | { kind: 'user'; userId: number; name: string }
  | { kind: 'schedule'; scheduleId: number; name: string }
  | { kind: 'trigger_token'; tokenId: number; name: string }
  /** The pusher, or the author of the pull/merge request, as the forge's payload names them. */
  | { kind: 'forge_user'; provider: DeliveryProvider; name: string }
  /** `gantry run`: the user account running it. */
  | { kind: 'local_user'; name: string };

/** What to call a token that has no description. */
export function tokenName(kind: 'admin' | 'api' | 'trigger', id: number, description: string | null): string {
  if (description) return description;
  if (kind === 'admin') return 'admin token';
  return `${kind === 'api' ? 'API' : 'trigger'} token #${id}`;
}
