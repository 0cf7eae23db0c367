// Shown while a request waits out the server's Retry-After: the page is not broken, it is waiting.

import { useEffect, useState } from 'preact/hooks';
import { useServerBusy } from '../api/server-busy.js';

export function ServerBusy() {
  const notice = useServerBusy();
  const [, tick] = useState(0);
  useEffect(() => {
    if (notice === null) return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [notice]);
  if (notice === null) return null;
  const left = Math.max(0, Math.ceil((notice.until - Date.now()) / 1000));
  return (
    <p class="server-busy" role="status">
      The server is busy: trying again in {left} s. <span class="muted">({notice.message})</span>
    </p>
  );
}
