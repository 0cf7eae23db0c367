// Deterministic pseudo-random bytes, so a child process and its parent agree on the stream.

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Chunk k of the stream for `seed`: 1..maxLen bytes of noise, NULs and CR/LF included. */
export function chunkOf(seed: number, k: number, maxLen = 70_000): Buffer {
  const r = rng(seed * 1_000_003 + k + 1);
  const len = 1 + (r() % maxLen);
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = r() & 0xff;
  return b;
}
