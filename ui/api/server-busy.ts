// The waits the server asked for (Retry-After of a shed request), for the banner that tells the
// person why a page is slow instead of showing an error (components/server-busy.tsx).

import { useEffect, useState } from 'preact/hooks';
import type { ShedWait } from '../../src/client/shed-wait.js';

export interface BusyNotice {
  message: string;
  /** When the request is sent again (epoch ms). */
  until: number;
}

let current: BusyNotice | null = null;
const listeners = new Set<(n: BusyNotice | null) => void>();

function publish(n: BusyNotice | null): void {
  current = n;
  for (const l of listeners) l(n);
}

/** Waits out `wait` (or until `signal` aborts), with the banner up meanwhile. */
export async function waitingForServer(wait: ShedWait, signal?: AbortSignal): Promise<void> {
  const notice: BusyNotice = { message: wait.message, until: Date.now() + wait.seconds * 1000 };
  publish(notice);
  try {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait.seconds * 1000);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  } finally {
    // A later wait replaced this one's notice: leave that up.
    if (current === notice) publish(null);
  }
}

export function useServerBusy(): BusyNotice | null {
  const [n, setN] = useState<BusyNotice | null>(current);
  useEffect(() => {
    listeners.add(setN);
    return () => void listeners.delete(setN);
  }, []);
  return n;
}
