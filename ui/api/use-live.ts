// A page's data kept live by an event stream that sends the whole resource at once and again
// whenever it changes (GET /agents/events, GET /queue/events): no first GET, no polling. A dropped
// stream is reopened (followEvents) and its first event brings the page up to date again.

import { useEffect, useState } from 'preact/hooks';
import { followEvents } from './sse.js';

export interface Live<T> {
  data: T | null;
  error: unknown;
}

export function useLive<T>(eventsPath: string, event: string): Live<T> {
  const [state, setState] = useState<Live<T>>({ data: null, error: null });
  useEffect(() => {
    const abort = new AbortController();
    followEvents(
      eventsPath,
      abort.signal,
      (e) => {
        if (e.event === event) setState({ data: JSON.parse(e.data) as T, error: null });
      },
      (error) => setState((s) => ({ ...s, error })),
    );
    return () => abort.abort();
  }, [eventsPath, event]);
  return state;
}
