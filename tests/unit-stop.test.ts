/**
 * A service stopping while calls to it are queued and running, seen by a caller over a real
 * loopback TCP connection, both in this process: each in a Runtime of its own, the caller
 * dialing the callee's listener directly (a fixed peer: no registry).
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { netaddr_ipv4 } from "../stdlib/net.ts";
import { Block } from "../runtime/scheduler/block.ts";
import { liveTasks } from "../runtime/scheduler/live.ts";
import { call } from "../runtime/service/call.ts";
import type { Service } from "../runtime/service/service.ts";
import type { RPCResult } from "../runtime/service/sessions.ts";
import { inTask, newRuntime, pause, until } from "./helpers/inproc.ts";

/** Callee "B" listening on 127.0.0.1:0 with one handler slot, and `queued` calls waiting behind
 * the one that runs, all from a caller in another Runtime over TCP. */
async function busyCallee(t: TestContext, queued: number) {
  const callee = newRuntime();
  const b = callee.root;
  await b.listen("B", "stream", netaddr_ipv4("127.0.0.1", 0), undefined);
  t.after(() => callee.stopService(b, "test over"));
  b.config.maxConcurrentHandlers = 1;
  let started = 0;
  b.dispatcher.handlers.set("Work", function* () {
    started++;
    yield* Block();
    return "done";
  });
  const peer = newRuntime().root.peers.fixed("B", b.addr!);
  const results = Array.from({ length: 1 + queued }, () => inTask(() => call(peer, "Work", null, 4000)));
  await until(() => started === 1, "the first call to run");
  await pause(50); // the rest arrive and queue
  return { callee, b, results };
}

const codes = async (results: Promise<RPCResult>[]) => {
  const count: Record<string, number> = {};
  for (const [, err] of await Promise.all(results)) count[err?.code ?? "ok"] = (count[err?.code ?? "ok"] ?? 0) + 1;
  return count;
};

// Both fail today (a bug, a regression of the Service/Runtime refactor, 63ba8c9): Service.stop and
// Service.shutdown close the listener in the same tick as dispatcher.stop() queues the
// shutting_down answers, and the stream listener's close() destroys every accepted socket at once
// (transport/stream.ts, listen().close: `for (const socket of sockets) socket.destroy()`). The
// answers still in the link's FrameWriter (it flushes at the end of the turn, or at 64 KiB) are
// dropped, as are those of the halted running handlers, whose finally blocks run later still; the
// callers get "disconnected". Before the refactor the listener closed in an onShutdown hook, after
// the tasks were halted and done.

test("StopService: a caller over TCP gets shutting_down for its running and its queued calls", async (t) => {
  const { callee, b, results } = await busyCallee(t, 3);
  await callee.stopService(b, "the test stops it");
  assert.deepEqual(await codes(results), { shutting_down: 4 });
});

test("process shutdown (beginShutdown, every task halted, then close): a caller over TCP gets shutting_down for its running and its queued calls", async (t) => {
  const { callee, b, results } = await busyCallee(t, 3);
  // What lifecycle.shutdown does: the start hooks (runtime.beginShutdown), then halt every task,
  // and once they are done the shutdown hooks (runtime.close).
  callee.beginShutdown();
  for (const task of liveTasks()) if ((task.context as Service | undefined) === b) task.halt();
  await until(() => !liveTasks().some((task) => task.context === b));
  await callee.close(1000);
  assert.deepEqual(await codes(results), { shutting_down: 4 });
});
