// The agent's identity per server: the agent id and token the server gave at registration, in
// $GANTRY_AGENT_HOME/agent.json (mode 0600), replaced atomically.

import fs from 'node:fs';
import path from 'node:path';

export interface AgentIdentity {
  agentId: number;
  token: string;
}

type IdentityFile = { servers: Record<string, AgentIdentity> };

const fileOf = (home: string) => path.join(home, 'agent.json');
const keyOf = (url: string) => url.replace(/\/+$/, '');

function read(home: string): IdentityFile {
  try {
    const parsed = JSON.parse(fs.readFileSync(fileOf(home), 'utf8')) as IdentityFile;
    return parsed && typeof parsed.servers === 'object' ? parsed : { servers: {} };
  } catch {
    return { servers: {} };
  }
}

export function loadIdentity(home: string, serverUrl: string): AgentIdentity | null {
  return read(home).servers[keyOf(serverUrl)] ?? null;
}

export function saveIdentity(home: string, serverUrl: string, id: AgentIdentity | null): void {
  const all = read(home);
  if (id === null) delete all.servers[keyOf(serverUrl)];
  else all.servers[keyOf(serverUrl)] = id;
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const tmp = `${fileOf(home)}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(all, null, 2));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, fileOf(home));
}
