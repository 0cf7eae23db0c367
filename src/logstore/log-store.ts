// The log store keeps each attempt's output as one byte stream, binary-safe and crash-safe.
// It knows nothing of jobs or pipelines beyond the key it is given.

/** One attempt's log: `<pipelineId>/<jobId>/<attemptNumber>`. */
export interface LogKey {
  pipelineId: number;
  jobId: number;
  attempt: number;
}

export interface LogChunk {
  /** Byte offset of `data` within the attempt's stream. */
  offset: number;
  /** When the chunk reached the log store (ms since epoch). */
  at: number;
  data: Buffer;
}

export interface LogWriter {
  /** Bytes appended so far (the next chunk's offset). */
  readonly size: number;
  /** Appends a chunk; it is in the OS cache when this returns, durable after `sync()`. */
  append(data: Buffer, at?: number): void;
  /** Makes every appended byte durable (fdatasync); returns the durable size. */
  sync(): number;
  /** Syncs and closes; the writer cannot be used afterwards. */
  close(): number;
  /** Like close(), but the sync runs off the event loop, so other jobs' work goes on meanwhile. */
  closeAsync(): Promise<number>;
}

export interface LogStore {
  /**
   * Opens the attempt's log for appending. An existing log is recovered first: a torn tail
   * (a record cut by a crash, or one whose checksum fails) is cut off, and appends continue
   * from the last whole record.
   */
  openWriter(key: LogKey): LogWriter;
  /** openWriter, with the file's creation done off the event loop. */
  openWriterAsync(key: LogKey): Promise<LogWriter>;
  /** Bytes [start, end) of the stream (end defaults to the current size). Empty if no log. */
  read(key: LogKey, start?: number, end?: number): Buffer;
  /** The chunks with their arrival times, for timestamps in viewers. */
  readChunks(key: LogKey, start?: number): LogChunk[];
  /** Current size in bytes of whole records; 0 if no log. */
  size(key: LogKey): number;
  exists(key: LogKey): boolean;
}
