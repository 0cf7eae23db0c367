// Which bytes of a log event are new to a viewer that holds the log up to `held`. Events carry
// their byte range (start .. end, the SSE `id`); a resumed stream may repeat bytes the viewer has.
// A hole (bytes the size limit dropped) arrives as a note whose length is not its range: it is
// shown whole, and the viewer then holds up to its end.

export interface Fresh {
  bytes: Uint8Array;
  /** What the viewer holds after these bytes. */
  held: number;
}

export function freshBytes(held: number, bytes: Uint8Array, start: number, end: number = start + bytes.length): Fresh | null {
  if (end <= held) return null;
  const isHole = end - start !== bytes.length;
  const fresh = isHole || start >= held ? bytes : bytes.subarray(held - start);
  return { bytes: fresh, held: end };
}
