// The queue reasons in words, shared with `gantry queue` (src/views/queue-reason-text.ts).

export { minutes, reasonJob, reasonText } from '../../src/views/queue-reason-text.js';
