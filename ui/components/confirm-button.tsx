// A button for what cannot be undone (revoke a token, remove a member): the first press asks, in
// place, and only the second, on "Yes, …", acts. Focus moves to the question's answer and back.

import { useEffect, useRef, useState } from 'preact/hooks';

export interface ConfirmButtonProps {
  /** The button's text ("Revoke"). */
  label: string;
  /** Its accessible name, naming the item ("Revoke token laptop"). */
  name: string;
  /** The question ("Revoke laptop? Scripts using it stop working.") */
  question: string;
  onConfirm(): void | Promise<unknown>;
  disabled?: boolean;
}

export function ConfirmButton(p: ConfirmButtonProps) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  const first = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) yes.current?.focus();
    else if (wasAsking.current) first.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  if (!asking)
    return (
      <button ref={first} type="button" class="danger" aria-label={p.name} disabled={p.disabled} onClick={() => setAsking(true)}>
        {p.label}
      </button>
    );
  return (
    <span class="confirm" role="group" aria-label={p.name} onKeyDown={(e) => e.key === 'Escape' && setAsking(false)}>
      <span class="confirm-question">{p.question}</span>{' '}
      <button
        ref={yes}
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          void p.onConfirm();
        }}
      >
        Yes, {p.label.toLowerCase()}
      </button>{' '}
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
