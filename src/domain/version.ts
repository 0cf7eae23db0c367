// What this build of Gantry is: shown by `gantry --version`, in each job log's first line, and
// sent by agents at registration; and the agent protocol version both sides must share.

export const GANTRY_VERSION = '0.1.0';

/** docs/PROTOCOL.md; a server refuses an agent that speaks another one. */
export const PROTOCOL_VERSION = 1;

/**
 * The content type of a batched log upload (`POST /api/v1/agent/logs`, PROTOCOL.md §9): u32 index
 * length, the index (JSON), then the parts' bytes in order. A server that takes it says so in the
 * session's `limits.logBatchBytes`; an agent talking to one that does not uploads per attempt.
 */
export const LOG_PARTS_TYPE = 'application/vnd.gantry.log-parts';
