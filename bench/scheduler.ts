/**
 * Scheduler benchmarks. `node --expose-gc --import tsx bench/scheduler.ts <scenario>` prints one
 * JSON result; bench/run.ts runs each scenario in a fresh process and prints the table.
 * Every luanet figure has a reference measured in the same process run.
 */
import { Sche, type Task } from "luanet/scheduler";

type Result = { value: number; reference: number };

/** Alternate the two measurements `rounds` times (after a warm-up) and keep each one's median:
 * a noisy neighbour then hurts both sides alike. */
async function compare(luanet: () => number | Promise<number>, reference: () => number | Promise<number>, rounds = 5): Promise<Result> {
  await luanet();
  await reference();
  const a: number[] = [], b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    a.push(await luanet());
    b.push(await reference());
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!;
  return { value: median(a), reference: median(b) };
}
const scenarios: Record<string, () => Promise<Result>> = {
  spawn: spawnRate,
  switch2: () => switchRate(2, 2_000_000),
  switch10k: () => switchRate(10_000, 2_000_000),
  memory: memoryPerTask,
};

/** Resolves when every task is done, by joining them from one more task. */
function allDone(tasks: Task[]): Promise<void> {
  return new Promise((resolve) => {
    Sche.Spawn(function* () {
      for (const t of tasks) yield* t;
      resolve();
    });
  });
}

/** Tasks spawned and run to completion per second, against bare generators created and run. */
async function spawnRate(): Promise<Result> {
  const N = 1_000_000;
  function* body() {}
  const bare = () => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) body().next();
    return N / ((performance.now() - t0) / 1000);
  };
  const luanet = async () => {
    const t0 = performance.now();
    let last = Sche.Spawn(body);
    for (let i = 1; i < N; i++) last = Sche.Spawn(body);
    await allDone([last]);
    return N / ((performance.now() - t0) / 1000);
  };
  return compare(luanet, bare, 3);
}

/**
 * Block/WakeUp switches per second around a ring of `size` tasks (2 = ping-pong). The reference
 * is the same ring with async functions and promise resolvers, the usual Node way.
 * Each task runs its own closure, as tasks spawned in a loop do in user code; V8 gives every
 * generator closure's generators their own hidden class, so this also checks that the loop's
 * calls into 10,000 generators do not go megamorphic (they did: 1.3M/s instead of 6M/s+).
 */
async function switchRate(size: number, switches: number): Promise<Result> {
  const luanet = async () => {
    const tasks: Task[] = [];
    let count = 0;
    for (let i = 0; i < size; i++) {
      tasks.push(Sche.Spawn(function* () {
        while (count < switches) {
          yield* Sche.Block();
          if (count >= switches) return;
          count++;
          Sche.WakeUp(tasks[(i + 1) % size]!);
        }
        for (const t of tasks) Sche.WakeUp(t); // the first to see the end releases the others
      }));
    }
    await new Promise((r) => setImmediate(r)); // all blocked
    const t0 = performance.now();
    Sche.WakeUp(tasks[0]!);
    await allDone(tasks);
    return count / ((performance.now() - t0) / 1000);
  };
  const promises = async () => {
    const wake: (() => void)[] = new Array(size);
    let count = 0;
    let stop = false;
    const runners: Promise<void>[] = [];
    for (let i = 0; i < size; i++) {
      runners.push((async () => {
        while (!stop) {
          await new Promise<void>((r) => (wake[i] = r));
          if (stop) break;
          if (++count >= switches) { stop = true; wake.forEach((w) => w()); break; }
          wake[(i + 1) % size]!();
        }
      })());
    }
    await new Promise((r) => setImmediate(r));
    const t0 = performance.now();
    wake[0]!();
    await Promise.all(runners);
    return count / ((performance.now() - t0) / 1000);
  };
  return compare(luanet, promises);
}

/** Heap bytes per idle task blocked in Block(), against a bare suspended generator. */
async function memoryPerTask(): Promise<Result> {
  const N = 100_000;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  const heap = () => { gc(); gc(); return process.memoryUsage().heapUsed; };

  let before = heap();
  function* parked() { yield; }
  const bare = [];
  for (let i = 0; i < N; i++) { const g = parked(); g.next(); bare.push(g); }
  const reference = (heap() - before) / N;
  bare.length = 0;

  before = heap();
  const tasks = [];
  for (let i = 0; i < N; i++) tasks.push(Sche.Spawn(function* () { yield* Sche.Block(); }));
  await new Promise((r) => setImmediate(r));
  const value = (heap() - before) / N;
  for (const t of tasks) Sche.WakeUp(t);
  return { value, reference };
}

const name = process.argv[2] ?? "";
const run = scenarios[name];
if (run === undefined) throw new Error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
console.log(JSON.stringify(await run()));
