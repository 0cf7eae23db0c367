// Artifacts and caches of a remote agent's attempt, through the server's blob store
// (PROTOCOL.md §11). Work in progress: until the server's blob routes land, a job that declares
// artifacts or caches reports that they are not transferred, and the job fails on artifact upload.

import type { ArtifactTransport, CacheTransport } from '../transports.js';
import type { ProtocolClient } from './protocol-client.js';

export function httpTransports(_client: ProtocolClient, _attemptId: number, _token: string): { artifacts: ArtifactTransport; cache: CacheTransport } {
  const missing = () => new Error('artifacts and caches across machines are not available yet on this server');
  return {
    artifacts: {
      fetch: async () => false,
      store: async () => {
        throw missing();
      },
    },
    cache: {
      restore: async () => false,
      save: async () => {
        throw missing();
      },
    },
  };
}
