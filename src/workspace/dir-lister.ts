import { receiveMessageOnPort, MessageChannel, Worker, type MessagePort } from 'node:worker_threads';

/**
 * A second thread that lists directories (readdir + one lstat per entry) ahead of the walk, so a
 * walk of 100k files keeps both cores busy: `lstat` is most of a no-change status, and Node's own
 * share of each call (the Stats object and its four Dates) is paid on the other thread too.
 *
 * The walk posts the directories it finds; the helper takes them from the back of its queue while
 * the walk works from the front. Each directory is claimed in a shared array by whichever side
 * starts it first, so none is listed twice; a directory the helper has not answered within
 * WAIT_MS (a descheduled or dead thread) is simply listed again by the walk. The helper only
 * reads: every decision about what an entry is stays with the walk.
 */

/** Per entry: mode (or MISSING / FAILED), ino, size, mtimeMs, ctimeMs. */
export const FIELDS = 5;
/** lstat said ENOENT (deleted meanwhile). */
export const MISSING = -1;
/** lstat failed otherwise: the walk repeats it to get (and throw) the real error. */
export const FAILED = -2;

export interface DirListing {
  names: string[];
  /** FIELDS numbers per entry, in `names` order. */
  stats: Float64Array;
}

/** Directories the claim array can track; more are listed by the walk alone. */
const MAX_DIRS = 1 << 16;
const FREE = 0;
const BY_WALK = 1;
const BY_HELPER = 2;
/** How long the walk waits for a directory the helper claimed before listing it itself. */
const WAIT_MS = 1000;

const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { readdirSync, lstatSync } = require('node:fs');
const { port, claims, answered } = workerData;
const queue = [];
const list = (id, dir, remembered) => {
  let names;
  if (remembered !== undefined) names = remembered === '' ? [] : remembered.split('\\n');
  else {
    try {
      names = readdirSync(dir);
    } catch {
      return { id };
    }
  }
  const stats = new Float64Array(names.length * ${FIELDS});
  for (let i = 0, o = 0; i < names.length; i++, o += ${FIELDS}) {
    let st;
    try {
      st = lstatSync(dir + '/' + names[i], { throwIfNoEntry: false });
    } catch {
      stats[o] = ${FAILED};
      continue;
    }
    if (st === undefined) {
      stats[o] = ${MISSING};
      continue;
    }
    stats[o] = st.mode;
    stats[o + 1] = st.ino;
    stats[o + 2] = st.size;
    stats[o + 3] = st.mtimeMs;
    stats[o + 4] = st.ctimeMs;
  }
  return { id, names, stats };
};
port.on('message', (dirs) => {
  for (const d of dirs) queue.push(d);
  while (queue.length > 0) {
    const [id, dir, remembered] = queue.pop();
    if (Atomics.compareExchange(claims, id, ${FREE}, ${BY_HELPER}) !== ${FREE}) continue;
    const r = list(id, dir, remembered);
    port.postMessage(r, r.stats ? [r.stats.buffer] : []);
    Atomics.add(answered, 0, 1);
    Atomics.notify(answered, 0);
  }
});
`;

export class DirLister {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly claims = new Int32Array(new SharedArrayBuffer(4 * MAX_DIRS));
  private readonly answered = new Int32Array(new SharedArrayBuffer(4));
  private readonly received = new Map<number, DirListing | undefined>();
  private readonly ids = new Map<string, number>();
  private nextId = 0;
  /** Directories whose listing came from the helper thread. */
  helped = 0;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { port: port2, claims: this.claims, answered: this.answered }, transferList: [port2] });
    // Never keeps the process alive, and a failure to start only means the walk lists everything.
    this.worker.unref();
    this.worker.on('error', () => undefined);
  }

  /**
   * Directories the walk will visit later (absolute paths), in walk order; with the names a
   * directory is known to hold ('\n'-joined, from DirListings.known), the thread lstats those
   * instead of reading the directory.
   */
  post(dirs: readonly string[], remembered: ReadonlyArray<string | undefined> = []): void {
    const batch: Array<[number, string, string | undefined]> = [];
    for (let k = 0; k < dirs.length; k++) {
      if (this.nextId >= MAX_DIRS) break;
      const dir = dirs[k]!;
      const id = this.nextId++;
      this.ids.set(dir, id);
      batch.push([id, dir, remembered[k]]);
    }
    if (batch.length > 0) this.port.postMessage(batch);
  }

  /**
   * The helper's listing of `dir`, or undefined when the walk should list it itself (not posted,
   * not started by the helper, failed there, or not answered in time).
   */
  take(dir: string): DirListing | undefined {
    const id = this.ids.get(dir);
    if (id === undefined) return undefined;
    this.ids.delete(dir);
    if (Atomics.compareExchange(this.claims, id, FREE, BY_WALK) === FREE) return undefined;
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const seen = Atomics.load(this.answered, 0);
      this.drain();
      if (this.received.has(id)) {
        const r = this.received.get(id);
        this.received.delete(id);
        if (r) this.helped++;
        return r;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      Atomics.wait(this.answered, 0, seen, left);
    }
  }

  private drain(): void {
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) {
      const r = m.message as { id: number; names?: string[]; stats?: Float64Array };
      this.received.set(r.id, r.names && r.stats ? { names: r.names, stats: r.stats } : undefined);
    }
  }

  close(): void {
    this.port.close();
    void this.worker.terminate();
  }
}
