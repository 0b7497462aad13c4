/**
 * The log writer thread: takes whole lines from the ring (log-ring.ts) and appends them to the
 * log file, rotating it by size: `name.log` becomes `name.log.1`, `.1` becomes `.2`, ... and the
 * oldest beyond `keep` is deleted.
 * @internal
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import { CONTROL_BYTES, FAILED, HEAD, SLEEPING, STARTED, TAIL } from "./log-ring.js";

export interface WriterOptions {
  sab: SharedArrayBuffer;
  capacity: number;
  dir: string;
  name: string;
  maxBytes: number;
  keep: number;
  /** Where the writer says why it stopped. */
  port: MessagePort;
}

const { sab, capacity, dir, name, maxBytes, keep, port } = workerData as WriterOptions;
const control = new Int32Array(sab, 0, CONTROL_BYTES / 4);
const data = Buffer.from(sab, CONTROL_BYTES, capacity);
const path = join(dir, `${name}.log`);

let fd = -1;
let size = 0;

function open(): void {
  mkdirSync(dir, { recursive: true });
  fd = openSync(path, "a");
  size = fstatSync(fd).size;
}

function rotate(): void {
  closeSync(fd);
  const old = (n: number) => `${path}.${n}`;
  if (keep === 0) rmSync(path, { force: true });
  else {
    if (existsSync(old(keep))) rmSync(old(keep));
    for (let n = keep - 1; n >= 1; n--) if (existsSync(old(n))) renameSync(old(n), old(n + 1));
    renameSync(path, old(1));
  }
  open();
}

/** Bytes from `at` through the last newline among the first `limit` bytes; 0 if none. */
function lastLineEnd(at: number, limit: number): number {
  for (let i = limit - 1; i >= 0; i--) if (data[((at + i) >>> 0) % capacity] === 10) return i + 1;
  return 0;
}

/** Bytes from `at` through the first newline (a line longer than a whole file). */
function firstLineEnd(at: number, pending: number): number {
  for (let i = 0; i < pending; i++) if (data[((at + i) >>> 0) % capacity] === 10) return i + 1;
  return pending;
}

/** Append `n` bytes of the ring from `at`, in two writes where the ring wraps. */
function append(at: number, n: number): void {
  const offset = (at >>> 0) % capacity;
  const first = Math.min(n, capacity - offset);
  for (const chunk of [data.subarray(offset, offset + first), data.subarray(0, n - first)]) {
    for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done);
  }
  size += n;
}

/**
 * Write ring bytes [from, to), which end at a line end, rotating the file before it would pass
 * `maxBytes`. Every cut falls at a line end, so no line is split between files; a line longer
 * than `maxBytes` gets a file to itself.
 */
function write(from: number, to: number): void {
  let at = from;
  while (at !== to) {
    const pending = (to - at) >>> 0;
    const room = maxBytes - size;
    let n = pending <= room ? pending : lastLineEnd(at, Math.max(room, 0));
    if (n === 0) {
      if (size > 0) {
        rotate();
        continue;
      }
      n = firstLineEnd(at, pending);
    }
    append(at, n);
    at = (at + n) | 0;
    if (size >= maxBytes) rotate(); // before the bytes count as written: an exit waits for it
    Atomics.store(control, TAIL, at);
    Atomics.notify(control, TAIL);
  }
}

try {
  open();
  Atomics.store(control, STARTED, 1);
  for (;;) {
    const tail = Atomics.load(control, TAIL);
    const head = Atomics.load(control, HEAD);
    if (head === tail) {
      Atomics.store(control, SLEEPING, 1);
      if (Atomics.load(control, HEAD) === tail) Atomics.wait(control, HEAD, tail, 1000);
      Atomics.store(control, SLEEPING, 0);
      continue;
    }
    write(tail, head);
  }
} catch (error) {
  port.postMessage(`cannot write the log file ${path}: ${(error as Error).message}`); // before FAILED: exit reads it then
  Atomics.store(control, FAILED, 1);
  Atomics.notify(control, TAIL);
}
