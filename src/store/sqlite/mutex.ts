// A FIFO async lock. better-sqlite3 has one connection and runs statements synchronously, but a
// transaction's callback may await: without the lock another caller's statement would run on the
// same connection inside that open transaction and be committed or rolled back with it.

export class AsyncMutex {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  get locked(): boolean {
    return this.held;
  }

  lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  unlock(): void {
    // Ownership passes straight to the next waiter so nobody can slip in between.
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}
