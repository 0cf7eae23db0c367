// What this build of Gantry is: shown by `gantry --version`, in each job log's first line, and
// sent by agents at registration; and the agent protocol version both sides must share.

export const GANTRY_VERSION = '0.1.0';

/** docs/PROTOCOL.md; a server refuses an agent that speaks another one. */
export const PROTOCOL_VERSION = 1;
