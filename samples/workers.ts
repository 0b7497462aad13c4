// The README's worker pool. Run it: luanet samples/workers.ts
import type {} from "luanet/globals";

// A worker pool: three tasks share one queue; Block/WakeUp parks the idle ones.
const jobs: number[] = [];
const idle: ReturnType<typeof Sche.Spawn>[] = [];

function* worker(name: string) {
  try {
    for (;;) {
      const job = jobs.shift();
      if (job === undefined) {
        idle.push(Sche.Running()!);
        yield* Sche.Block();
        continue;
      }
      yield* Sche.Sleep(job); // pretend to work
      console.log(`${name} did a ${job} ms job`);
    }
  } finally {
    console.log(`${name} stopped`);
  }
}

export default function* () {
  const workers = ["w1", "w2", "w3"].map((name) => Sche.Spawn(worker, name));
  for (const ms of [30, 10, 20, 5]) {
    jobs.push(ms);
    const w = idle.shift();
    if (w) Sche.WakeUp(w);
  }
  yield* Sche.Sleep(100);
  for (const w of workers) yield* w.halt(); // prints "w1 stopped" ...
}
