// Messages between the server and its git runner process: one JSON object per line.

export interface GitRequest {
  id: number;
  args: string[];
  cwd: string;
  /** Written to git's stdin, then stdin is closed; absent: stdin is closed at once. */
  input?: string;
  timeoutMs: number;
}

export interface GitReply {
  id: number;
  /** git's exit code; null when it did not exit by itself (killed at its timeout, or not started). */
  code: number | null;
  /** stdout, base64 (it may be any bytes: `cat-file --batch` returns blobs as they are). */
  stdout: string;
  /** The end of stderr, for the error message. */
  stderr: string;
  /** Why git could not be run or was stopped (spawn failure, timeout, output too large). */
  error?: string;
}
