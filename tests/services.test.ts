/**
 * Services talking to each other, observed from outside: real name services, service scripts
 * and CLI tools in child processes on 127.0.0.1, every port picked by the OS (port 0), so the
 * tests run in parallel. Each error code a call can give is triggered for real.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { before, describe, test } from "node:test";
import { lastJson, launch, poll, runClient, startNameService, startService, tool, type NameService, type Service } from "./helpers/cluster.ts";

/** The lines of a process's stderr that are warnings or errors (INFO lines are expected). */
const complaints = (stderr: string) => stderr.split("\n").filter((l) => l.trim() !== "" && !/^\[[^\]]+\] INFO /.test(l));

/** A server offering the functions the error-code tests call. Its file name shows in stacks. */
const errorsServer = `
luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
luanet.RegRPCFunction("Echo", (x: unknown) => x);
function failingHandler(args: { why: string }): never {
  throw new Error("handler failed: " + args.why);
}
luanet.RegRPCFunction("Boom", failingHandler);
luanet.RegRPCFunction("Slow", function* ({ ms }: { ms: number }) {
  yield* Sche.Sleep(ms);
  console.log("Slow(" + ms + ") finished");
  return "late " + ms;
});
luanet.StartLocalService("Errs", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
`;

/** Run `body` with a loopback port that another socket holds. */
async function withPortTaken(body: (port: number) => Promise<void>): Promise<void> {
  const blocker = createServer();
  await new Promise<void>((resolve, reject) => {
    blocker.once("error", reject);
    blocker.listen(0, "127.0.0.1", resolve);
  });
  try {
    await body((blocker.address() as { port: number }).port);
  } finally {
    blocker.close();
  }
}

describe("services", { concurrency: true }, () => {
  describe("error codes from calls to a live server", { concurrency: true }, () => {
    let ns: NameService;
    let server: Service;
    before(async () => {
      ns = await startNameService();
      server = await startService(ns, errorsServer, { name: "errs-server.ts" });
    });

    test("a service that never existed: unavailable", async () => {
      const r = await runClient(ns, `
        export default function* () {
          const t0 = performance.now();
          const [ret, err] = yield* luanet.RPCCall("NeverExisted", "Plus", { a: 1, b: 2 }, { timeout: 2000 });
          console.log(JSON.stringify({ ret, code: err?.code, message: err?.message, ms: performance.now() - t0 }));
          process.exit(0);
        }
      `);
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.ret, null);
      assert.equal(out.code, "unavailable");
      assert.match(out.message, /NeverExisted/);
      assert.ok(out.ms < 2000, `unavailable should not wait for the deadline (took ${out.ms} ms)`);
    });

    test("a handler that throws: remote_error with its message and stack; the server still serves", async () => {
      const r = await runClient(ns, `
        export default function* () {
          const [ret, err] = yield* luanet.RPCCall("Errs", "Boom", { why: "bad input 42" }, { timeout: 3000 });
          const [sum, err2] = yield* luanet.RPCCall("Errs", "Plus", { a: 40, b: 2 }, { timeout: 3000 });
          console.log(JSON.stringify({ ret, code: err?.code, message: err?.message, stack: err?.remoteStack, isError: err instanceof Error, sum, err2: err2?.code ?? null }));
          process.exit(0);
        }
      `);
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.ret, null);
      assert.equal(out.code, "remote_error");
      assert.equal(out.isError, true);
      assert.match(out.message, /handler failed: bad input 42/);
      assert.match(out.stack, /handler failed: bad input 42/);
      assert.match(out.stack, /failingHandler .*errs-server\.ts:\d+:\d+/, "the remote stack names the handler and its file");
      assert.equal(out.err2, null);
      assert.equal(out.sum, 42, "a good call after the failing one succeeds");
      assert.equal(server.child.exitCode, null, "the server is still running");
    });

    test("an unknown function: no_such_function", async () => {
      const r = await runClient(ns, `
        export default function* () {
          const [ret, err] = yield* luanet.RPCCall("Errs", "NoSuchThing", null, { timeout: 3000 });
          const [sum] = yield* luanet.RPCCall("Errs", "Plus", { a: 1, b: 1 }, { timeout: 3000 });
          console.log(JSON.stringify({ ret, code: err?.code, message: err?.message, sum }));
          process.exit(0);
        }
      `);
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.ret, null);
      assert.equal(out.code, "no_such_function");
      assert.match(out.message, /Errs has no function "NoSuchThing"/);
      assert.equal(out.sum, 2);
    });

    test("a handler past the caller's deadline: timeout; its late reply is dropped quietly", async () => {
      // The caller is a registered service, so the late reply comes back over the server's own
      // connection to the caller's listener. At debug level the caller logs the reply it drops:
      // the test waits for that line itself, then lets the caller go on (a message) and checks
      // that nothing else was logged, however late the reply came.
      const client = launch(ns, `
        luanet.StartLocalService("Impatient", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        export default function* () {
          yield* luanet.Register2Name(NS);
          const t0 = performance.now();
          const [ret, err] = yield* luanet.RPCCall("Errs", "Slow", { ms: 700 }, { timeout: 250 });
          const ms = performance.now() - t0;
          console.log(JSON.stringify({ ret, code: err?.code, message: err?.message, ms }));
          const { msg } = yield* luanet.GetMsg(); // the test's go-ahead, once the late reply is dropped
          const [sum, err2] = yield* luanet.RPCCall("Errs", "Plus", { a: 2, b: 3 }, { timeout: 3000 });
          console.log(JSON.stringify({ msg, sum, err2: err2?.code ?? null }));
          process.exit(0);
        }
      `, { env: { LUANET_LOG_LEVEL: "debug" } });
      const timedOut = lastJson((await client.waitFor(/^\{.*"code":"timeout".*\}$/m, 10_000))[0]);
      assert.equal(timedOut.ret, null);
      assert.match(timedOut.message, /^Errs\.Slow did not answer within 250 ms$/, "the message names the caller's deadline");
      assert.ok(timedOut.ms >= 249 && timedOut.ms < 1000, `timed out after ${timedOut.ms} ms`);
      await client.waitFor(/^\[[^\]]+\] \w+ +dropped a reply to call \d+/m, 10_000, "stderr"); // at whatever level
      assert.match(server.stdout, /Slow\(700\) finished/, "the server did finish and reply late");

      const go = await tool(ns, ["send", "Impatient", '"go"']);
      assert.equal(go.code, 0, go.stderr);
      const r = await client.exited(10_000);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastJson(r.stdout), { msg: "go", sum: 5, err2: null }, "the caller is healthy after the late reply");
      const notDebug = complaints(r.stderr).filter((l) => !/^\[[^\]]+\] DEBUG /.test(l));
      assert.deepEqual(notDebug, [], "nothing but debug lines logged about the late reply");
    });

    test("too_large: a call over maxFrameBytes fails at the caller, which keeps working", async () => {
      const r = await runClient(ns, `
        luanet.Configure({ maxFrameBytes: 1024 });
        export default function* () {
          const [ret, err] = yield* luanet.RPCCall("Errs", "Echo", "x".repeat(10 * 1024), { timeout: 3000 });
          const msgErr = yield* luanet.SendMsg("Errs", { big: "y".repeat(10 * 1024) });
          const [small, err2] = yield* luanet.RPCCall("Errs", "Echo", "small", { timeout: 3000 });
          console.log(JSON.stringify({ ret, code: err?.code, message: err?.message, msgCode: msgErr?.code ?? null, small, err2: err2?.code ?? null }));
          process.exit(0);
        }
      `);
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.ret, null);
      assert.equal(out.code, "too_large");
      assert.match(out.message, /over the maximum frame of 1024 bytes/);
      assert.equal(out.msgCode, "too_large", "SendMsg checks the size too");
      assert.equal(out.err2, null);
      assert.equal(out.small, "small");
    });
  });

  test("kill -9 the server mid-call: the caller sees disconnected within a second", async () => {
    const ns = await startNameService();
    const server = await startService(ns, `
      luanet.RegRPCFunction("Pid", () => process.pid);
      luanet.RegRPCFunction("Sleepy", function* (_: unknown, ctx: { from: string | null }) {
        console.log("in handler");
        yield* luanet.SendMsg(ctx.from!, "handler started");
        yield* Sche.Sleep(5000);
        return "woke";
      });
      luanet.StartLocalService("Victim", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    // The caller kills the server itself once the handler has started, and measures.
    const r = await runClient(ns, `
      luanet.StartLocalService("Killer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      export default function* () {
        yield* luanet.Register2Name(NS);
        const [pid, perr] = yield* luanet.RPCCall<number>("Victim", "Pid", null, { timeout: 3000 });
        if (perr !== null) throw perr;
        const call = Sche.Spawn(function* () {
          const [ret, err] = yield* luanet.RPCCall("Victim", "Sleepy", null, { timeout: 10_000 });
          return { ret, code: err?.code, message: err?.message, at: performance.now() };
        });
        const { msg } = yield* luanet.GetMsg();
        const killedAt = performance.now();
        process.kill(pid!, "SIGKILL");
        const out = yield* call;
        console.log(JSON.stringify({ msg, ...out, ms: out.at - killedAt }));
        process.exit(0);
      }
    `);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.msg, "handler started");
    assert.equal(out.ret, null);
    assert.equal(out.code, "disconnected");
    assert.match(out.message, /Victim/);
    assert.ok(out.ms < 1000, `disconnected came ${out.ms} ms after the kill`);
    const exit = await server.exited(5000);
    assert.equal(exit.signal, "SIGKILL");
    assert.match(exit.stdout, /in handler/);
  });

  test("name conflict: a second process registering the same name exits 1 naming the holder", async () => {
    const ns = await startNameService();
    const source = `
      luanet.RegRPCFunction("Who", () => process.pid);
      luanet.StartLocalService("Dup", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `;
    const holder = await startService(ns, source);
    const second = await launch(ns, source).exited(10_000);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`"Dup" is held by pid ${holder.child.pid}\\b`));
    // The holder keeps the name and keeps serving.
    const call = await tool(ns, ["call", "Dup", "Who"]);
    assert.equal(call.code, 0, call.stderr);
    assert.equal(JSON.parse(call.stdout), holder.child.pid);
  });

  test("the name service killed and restarted on its port: services re-register and calls resume", async () => {
    const ns1 = await startNameService();
    const keeper = await startService(ns1, `
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.StartLocalService("Keeper", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const looper = await startService(ns1, `
      luanet.StartLocalService("Looper", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
      Sche.Spawn(function* () {
        for (let i = 0; ; i++) {
          const [sum, err] = yield* luanet.RPCCall<number>("Keeper", "Plus", { a: i, b: 1 }, { timeout: 500 });
          console.log(err === null ? (sum === i + 1 ? "ok " + i : "wrong " + i + " " + sum) : "err " + err.code);
          yield* Sche.Sleep(50);
        }
      });
    `);
    await looper.waitFor(/^ok \d+$/m, 10_000);

    ns1.proc.child.kill("SIGKILL");
    const dead = await ns1.proc.exited(5000);
    assert.equal(dead.signal, "SIGKILL");
    const ns2 = await startNameService({ port: ns1.port });
    assert.equal(ns2.addr, ns1.addr);

    const again = (name: string) => new RegExp(`${name} registered with the name service at 127\\.0\\.0\\.1:${ns1.port} again`);
    await keeper.waitFor(again("Keeper"), 10_000, "stderr");
    await looper.waitFor(again("Looper"), 10_000, "stderr");
    const ls = await poll("both services in luanet ls", async () => {
      const r = await tool(ns2, ["ls"]);
      return r.code === 0 && /^Keeper\s/m.test(r.stdout) && /^Looper\s/m.test(r.stdout) ? r : undefined;
    }, 10_000, 200);
    assert.match(ls.stdout, new RegExp(`^Keeper\\s.*\\s${keeper.child.pid}\\s`, "m"));

    // A fresh caller must look Keeper up in the new name service.
    const call = await tool(ns2, ["call", "Keeper", "Plus", '{"a":40,"b":2}']);
    assert.equal(call.code, 0, call.stderr);
    assert.equal(JSON.parse(call.stdout), 42);

    // The client that kept calling succeeds after the restart.
    const mark = looper.stdout.length;
    await poll("an ok call after the restart", () => (/^ok \d+$/m.test(looper.stdout.slice(mark)) ? true : undefined), 5000);
    assert.doesNotMatch(looper.stdout, /^wrong /m);
    // One warning per outage, not one per retry.
    for (const svc of [keeper, looper]) {
      assert.ok((svc.stderr.match(/cannot register/g) ?? []).length <= 1, svc.stderr);
    }
  });

  test("100 tasks make 10,000 calls, every result correct", async () => {
    const ns = await startNameService();
    await startService(ns, `
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.StartLocalService("Adder", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const r = await runClient(ns, `
      luanet.StartLocalService("Summer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      export default function* () {
        yield* luanet.Register2Name(NS);
        let ok = 0;
        const wrong: string[] = [];
        const errors: string[] = [];
        const t0 = performance.now();
        const tasks = [];
        for (let t = 0; t < 100; t++) {
          tasks.push(Sche.Spawn(function* () {
            for (let j = 0; j < 100; j++) {
              const a = t * 1000 + j, b = j * 7 - t;
              const [sum, err] = yield* luanet.RPCCall<number>("Adder", "Plus", { a, b }, { timeout: 10_000 });
              if (err !== null) errors.push(err.code + ": " + err.message);
              else if (sum !== a + b) wrong.push(a + "+" + b + "=" + sum);
              else ok++;
            }
          }));
        }
        for (const task of tasks) yield* task;
        console.log(JSON.stringify({ ok, wrong: wrong.slice(0, 5), wrongCount: wrong.length, errors: errors.slice(0, 5), errorCount: errors.length, ms: performance.now() - t0 }));
        process.exit(0);
      }
    `, { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.wrong, []);
    assert.equal(out.ok, 10_000);
  });

  test("GetRemoteFuncProvider lists both providers, then only the live one after kill -9", async () => {
    const ns = await startNameService();
    const provider = (name: string) => `
      luanet.RegRPCFunction("Echo", (x: unknown) => x);
      luanet.StartLocalService("${name}", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `;
    const [, b] = await Promise.all([startService(ns, provider("EchoA")), startService(ns, provider("EchoB"))]);
    const observer = launch(ns, `
      Sche.Spawn(function* () {
        console.log("none " + JSON.stringify(yield* luanet.GetRemoteFuncProvider("NobodyHasThis")));
        for (;;) {
          const [names, err] = yield* luanet.GetRemoteFuncProvider("Echo");
          console.log(JSON.stringify(err === null ? [...names].sort() : err.code));
          yield* Sche.Sleep(100);
        }
      });
    `);
    await observer.waitFor(/^\["EchoA","EchoB"\]$/m, 10_000);
    assert.match(observer.stdout, /^none \[\[\],null\]$/m);
    const before = observer.stdout.split("\n").filter((l) => l.startsWith("["));
    assert.deepEqual(before, before.map(() => '["EchoA","EchoB"]'), "both providers from the first answer on");

    b.child.kill("SIGKILL");
    await observer.waitFor(/^\["EchoA"\]$/m, 10_000);
    await b.exited(5000);
  });

  test("1000 numbered messages from each of two senders: exactly once, in order per sender, from their names", async () => {
    const ns = await startNameService();
    const receiver = await startService(ns, `
      const TOTAL = 2000;
      const got: { from: string | null; seq: number; worker: number }[] = [];
      luanet.StartLocalService("Inbox", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
      function* report() {
        yield* Sche.Sleep(300); // anything extra (a duplicate) would arrive in here
        const bySender: Record<string, number[]> = {};
        const perWorker = [0, 0, 0, 0];
        for (const m of got) {
          (bySender[String(m.from)] ??= []).push(m.seq);
          perWorker[m.worker]!++;
        }
        console.log(JSON.stringify({ count: got.length, bySender, perWorker }));
      }
      for (let w = 0; w < 4; w++) {
        Sche.Spawn(function* () {
          for (;;) {
            const { from, msg } = yield* luanet.GetMsg<{ seq: number }>();
            got.push({ from, seq: msg.seq, worker: w });
            if (got.length === TOTAL) Sche.Spawn(report);
          }
        });
      }
    `);
    const sender = (name: string) => launch(ns, `
      luanet.StartLocalService("${name}", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      export default function* () {
        yield* luanet.Register2Name(NS);
        let failed = 0;
        for (let seq = 0; seq < 1000; seq++) {
          const err = yield* luanet.SendMsg("Inbox", { seq });
          if (err !== null) failed++;
        }
        console.log("sent 1000, failed " + failed);
        yield* Sche.Sleep(60_000); // stay up: the frames may still be on their way
      }
    `);
    const senders = [sender("OutboxA"), sender("OutboxB")];
    for (const s of senders) await s.waitFor(/sent 1000, failed (\d+)/, 15_000);
    for (const s of senders) assert.match(s.stdout, /failed 0$/m);
    await receiver.waitFor(/^\{"count".*\}$/m, 15_000);
    const out = lastJson(receiver.stdout);
    const seqs = Array.from({ length: 1000 }, (_, i) => i);
    assert.equal(out.count, 2000, "every message exactly once, nothing extra");
    assert.deepEqual(Object.keys(out.bySender).sort(), ["OutboxA", "OutboxB"], "from is the sender's service name");
    assert.deepEqual(out.bySender.OutboxA, seqs, "OutboxA's messages in order");
    assert.deepEqual(out.bySender.OutboxB, seqs, "OutboxB's messages in order");
    assert.equal((out.perWorker as number[]).reduce((a, b) => a + b, 0), 2000);
    for (const s of senders) s.child.kill("SIGKILL");
  });

  test("CLI: ls shows a service; call prints JSON or exits 1 with the code; send delivers", async () => {
    const ns = await startNameService();
    const svc = await startService(ns, `
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.RegRPCFunction("Echo", (x: unknown) => x);
      luanet.StartLocalService("CliSvc", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
      Sche.Spawn(function* () {
        for (;;) {
          const { from, msg } = yield* luanet.GetMsg();
          console.log("got " + JSON.stringify({ from, msg }));
        }
      });
    `);
    const addr = (await svc.waitFor(/CliSvc listening on (127\.0\.0\.1:\d+)/, 1000, "stderr"))[1]!;

    const [ls, plus, echo, unknown, nobody, send] = await Promise.all([
      tool(ns, ["ls"]),
      tool(ns, ["call", "CliSvc", "Plus", '{"a":2,"b":3}']),
      tool(ns, ["call", "CliSvc", "Echo", '{"x":[1,"two",null]}']),
      tool(ns, ["call", "CliSvc", "Nope", "--timeout", "3000"]),
      tool(ns, ["call", "NoSuchService", "Plus", "{}"]),
      tool(ns, ["send", "CliSvc", '{"hello":"world"}']),
    ]);

    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trim().split("\n");
    assert.deepEqual(lines[0]!.split(/\s+/), ["NAME", "ADDRESS", "TRANSPORT", "FUNCTIONS", "PID", "UPTIME"]);
    const row = lines.find((l) => l.startsWith("CliSvc "));
    assert.ok(row, ls.stdout);
    const [name, address, transport, funcs, pid, uptime] = row.split(/\s+/);
    assert.equal(name, "CliSvc");
    assert.equal(address, addr);
    assert.equal(transport, "tcp");
    assert.deepEqual(funcs!.split(",").sort(), ["Echo", "Plus"]);
    assert.equal(Number(pid), svc.child.pid);
    assert.match(uptime!, /^\d+s$/);

    assert.equal(plus.code, 0, plus.stderr);
    assert.equal(JSON.parse(plus.stdout), 5);
    assert.equal(echo.code, 0, echo.stderr);
    assert.deepEqual(JSON.parse(echo.stdout), { x: [1, "two", null] });

    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, "");
    assert.match(unknown.stderr, /^luanet: no_such_function: CliSvc has no function "Nope"/m);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /^luanet: unavailable: .*NoSuchService/m);

    assert.equal(send.code, 0, send.stderr);
    await svc.waitFor(/^got \{"from":null,"msg":\{"hello":"world"\}\}$/m, 5000);
  });

  test("StartLocalService on an address in use: exit 1 naming the address", () => withPortTaken(async (port) => {
    const r = await runClient("127.0.0.1:1", `
      luanet.StartLocalService("Clash", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", ${port}));
      Sche.Spawn(function* () { yield* Sche.Sleep(5000); console.log("still running"); });
    `, { timeoutMs: 10_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`Clash cannot listen on 127\\.0\\.0\\.1:${port}\\b`));
    assert.match(r.stderr, /EADDRINUSE/);
    assert.doesNotMatch(r.stdout, /still running/);
  }));

  test("StartLocalService on an address in use gives [null, address_in_use] to a task that waits, which may try another", () => withPortTaken(async (port) => {
    const r = await runClient("127.0.0.1:1", `
      export default function* () {
        const [first, err] = yield* luanet.StartLocalService("Retry", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", ${port}));
        const [second, err2] = yield* luanet.StartLocalService("Retry", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        console.log(JSON.stringify({ first, code: err?.code, second: second !== null && second.port !== ${port}, err2 }));
        luanet.Exit(0);
      }
    `, { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lastJson(r.stdout), { first: null, code: "address_in_use", second: true, err2: null });
  }));

  test("GetRemoteFuncProvider takes a deadline: a registry that never answers gives timeout then; a bad one is a TypeError", async () => {
    // A "name service" that accepts connections and never says a word.
    const mute = createServer(() => {});
    await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
    try {
      const r = await launch(`127.0.0.1:${(mute.address() as { port: number }).port}`, `
        export default function* () {
          const t0 = performance.now();
          const [names, err] = yield* luanet.GetRemoteFuncProvider("Plus", { timeout: 300 });
          const ms = performance.now() - t0;
          let typeError = "";
          try { luanet.GetRemoteFuncProvider("Plus", { timeout: -1 }); } catch (e) { typeError = (e as Error).message; }
          console.log(JSON.stringify({ names, code: err?.code, early: ms < 5000, typeError }));
        }
      `).exited(15_000);
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.names, null);
      assert.equal(out.code, "timeout");
      assert.equal(out.early, true, "it ended at its own 300 ms deadline, not at rpcTimeout's 10 s");
      assert.match(out.typeError, /GetRemoteFuncProvider\(func, opts\?\): opts\.timeout must be a positive number of ms, got -1/);
    } finally {
      mute.close();
    }
  });

  test("onDisconnected gets the name of a peer that called us when it is killed", async () => {
    const ns = await startNameService();
    const watcher = await startService(ns, `
      luanet.RegRPCFunction("Echo", (x: unknown) => x);
      luanet.StartLocalService("Watcher", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0), (peer) => {
        console.log("disconnected " + peer);
      });
      luanet.Register2Name(NS);
    `);
    const visitor = await startService(ns, `
      luanet.StartLocalService("Visitor", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
      Sche.Spawn(function* () {
        const [ret, err] = yield* luanet.RPCCall("Watcher", "Echo", "hi", { timeout: 3000 });
        console.log(err === null ? "called " + ret : "failed " + err.code);
      });
    `);
    await visitor.waitFor(/^called hi$/m, 10_000);
    assert.doesNotMatch(watcher.stdout, /disconnected/, "nothing is reported while the peer is up");
    visitor.child.kill("SIGKILL");
    await watcher.waitFor(/^disconnected Visitor$/m, 5000);
    await new Promise((r) => setTimeout(r, 200));
    const reported = watcher.stdout.split("\n").filter((l) => l.startsWith("disconnected"));
    assert.deepEqual([...new Set(reported)], ["disconnected Visitor"], "only the peer's name is reported");
  });
});
