/**
 * Scheduler benchmarks. `node --expose-gc --import tsx bench/scheduler.ts <scenario>` prints one
 * JSON result; bench/run.ts runs each scenario in a fresh process and prints the table.
 * Every luanet figure has a reference measured in the same process run.
 */
import { Sche } from "luanet/scheduler";

type Result = { value: number; reference: number };
const scenarios: Record<string, () => Promise<Result>> = {
  spawn: spawnRate,
  switch2: () => switchRate(2, 2_000_000),
  switch10k: () => switchRate(10_000, 2_000_000),
  memory: memoryPerTask,
};

function until(task: { done: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (task.done ? resolve() : setImmediate(check));
    check();
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
    await until(last);
    return N / ((performance.now() - t0) / 1000);
  };
  bare(); await luanet(); // warm up
  return { value: await luanet(), reference: bare() };
}

/**
 * Block/WakeUp switches per second around a ring of `size` tasks (2 = ping-pong). The reference
 * is the same ring with async functions and promise resolvers, the usual Node way.
 */
async function switchRate(size: number, switches: number): Promise<Result> {
  const luanet = async () => {
    const tasks: ReturnType<typeof Sche.Spawn>[] = [];
    let count = 0;
    for (let i = 0; i < size; i++) {
      tasks.push(Sche.Spawn(function* () {
        while (count < switches) {
          yield* Sche.Block();
          count++;
          Sche.WakeUp(tasks[(i + 1) % size]!);
        }
        for (const t of tasks) Sche.WakeUp(t);
      }));
    }
    await new Promise((r) => setImmediate(r)); // all blocked
    const t0 = performance.now();
    Sche.WakeUp(tasks[0]!);
    await Promise.all(tasks.map(until));
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
  await luanet(); await promises(); // warm up
  return { value: await luanet(), reference: await promises() };
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
