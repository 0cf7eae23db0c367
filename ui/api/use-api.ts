// Loads one API resource for a page: the data, the error, a reload, and a setter for live updates.

import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from './client.js';

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload(): void;
  setData(fn: (old: T | null) => T | null): void;
}

export function useApi<T>(path: string | null): Loaded<T> {
  const [data, setDataState] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(path !== null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    setLoading(true);
    api<T>(path, { signal: abort.signal })
      .then((d) => {
        setDataState(d);
        setError(null);
      })
      .catch((err) => {
        if (!abort.signal.aborted) setError(err);
      })
      .finally(() => {
        if (!abort.signal.aborted) setLoading(false);
      });
    return () => abort.abort();
  }, [path, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  const setData = useCallback((fn: (old: T | null) => T | null) => setDataState(fn), []);
  return { data, error, loading, reload, setData };
}
