/**
 * The log writer thread: takes whole lines from the ring (log-ring.ts) and appends them to the
 * log file, rotating it by size: `name.log` becomes `name.log.1`, `.1` becomes `.2`, ... and the
 * oldest beyond `keep` is deleted.
 * @internal
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { CONTROL_BYTES, FAILED, HEAD, SLEEPING, TAIL } from "./log-ring.js";

export interface WriterOptions {
  sab: SharedArrayBuffer;
  capacity: number;
  dir: string;
  name: string;
  maxBytes: number;
  keep: number;
}

const { sab, capacity, dir, name, maxBytes, keep } = workerData as WriterOptions;
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

/** Write bytes [from, to) of the ring, splitting at line ends when the file must rotate. */
function write(from: number, to: number): void {
  let at = from;
  while (at !== to) {
    const offset = (at >>> 0) % capacity;
    const length = Math.min((to - at) >>> 0, capacity - offset);
    let chunk = data.subarray(offset, offset + length);
    if (size + chunk.length > maxBytes && size > 0) {
      const room = chunk.lastIndexOf(10, maxBytes - size - 1); // the last whole line that fits
      if (room >= 0) chunk = chunk.subarray(0, room + 1);
      else {
        rotate();
        continue;
      }
    }
    let done = 0;
    while (done < chunk.length) done += writeSync(fd, chunk, done);
    size += chunk.length;
    at = (at + chunk.length) | 0;
    Atomics.store(control, TAIL, at);
    Atomics.notify(control, TAIL);
    if (size >= maxBytes && chunk[chunk.length - 1] === 10) rotate(); // never split a line
  }
}

try {
  open();
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
  Atomics.store(control, FAILED, 1);
  Atomics.notify(control, TAIL);
  parentPort?.postMessage(`cannot write the log file ${path}: ${(error as Error).message}`);
}
