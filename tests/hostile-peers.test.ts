/**
 * Attacks by a peer that speaks the protocol (issue 11, items 1, 2 and 4), each against live
 * processes: forged replies, a HELLO claiming another service's name, and CBOR that reaches
 * decoder features the protocol does not use. Each asserts that the attack fails and that the
 * well-behaved processes kept getting correct answers meanwhile.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, test } from "node:test";
import { Type } from "../runtime/wire/envelope.ts";
import { FrameDecoder } from "../runtime/wire/frame.ts";
import { lastJson, launch, startNameService, startService, tool } from "./helpers/cluster.ts";
import { closesWithin, dial, frame, helloFrame, rawCbor } from "./helpers/raw.ts";

const portOf = async (svc: { waitFor(p: RegExp, ms?: number, s?: "stdout" | "stderr"): Promise<RegExpExecArray> }, name: string) =>
  Number((await svc.waitFor(new RegExp(`${name} listening on 127\\.0\\.0\\.1:(\\d+)`), 10_000, "stderr"))[1]);

/** Servers the tests open, closed when the file ends whatever happened. */
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)))])
    .finally(() => clearTimeout(timer));
}

/** Write and wait until the kernel took it; resolves false if the peer closed the socket. */
function write(socket: Socket, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => socket.write(bytes, (error) => resolve(!error)));
}

test("forged replies: REPLY frames from a process the calls were not sent to settle nothing", { timeout: 60_000 }, async () => {
  const ns = await startNameService();
  await startService(ns, `
    luanet.RegRPCFunction("SlowPlus", function* ({ a, b }: { a: number; b: number }) { yield* Sche.Sleep(2500); return a + b; });
    luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { name: "server.ts" });
  // The caller has a listener of its own, as every service does: the attacker dials it.
  const caller = launch(ns, `
    luanet.StartLocalService("Caller", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    export default function* () {
      yield* luanet.Register2Name(NS);
      const tasks = Array.from({ length: 200 }, (_, i) => Sche.Spawn(function* () {
        return yield* luanet.RPCCall("PlusServer", "SlowPlus", { a: i, b: 1 }, { timeout: 8000 });
      }));
      console.log("calling");
      let right = 0;
      const wrong: unknown[] = [];
      for (const [i, t] of tasks.entries()) {
        const [sum, err] = yield* t;
        if (err === null && sum === i + 1) right++; else wrong.push(sum ?? err?.code);
      }
      console.log(JSON.stringify({ right, wrong: wrong.slice(0, 5) }));
      luanet.Exit(0);
    }
  `, { name: "caller.ts" });
  const callerPort = await portOf(caller, "Caller");
  await caller.waitFor(/calling/);

  // Posing as PlusServer on a link of its own: REPLY and ERROR for the ids a counter would have
  // used, and for 20,000 more.
  const attacker = await dial(callerPort);
  const forged: Buffer[] = [helloFrame("PlusServer")];
  for (let id = 1; id <= 20_200; id++) {
    forged.push(frame(rawCbor.encode(id % 2 === 0 ? [Type.REPLY, id, "FORGED"] : [Type.ERROR, id, "remote_error", "FORGED", null])));
  }
  await write(attacker, Buffer.concat(forged));

  const exit = await caller.exited(20_000);
  assert.equal(exit.code, 0, exit.stderr);
  assert.deepEqual(lastJson(exit.stdout), { right: 200, wrong: [] });
  attacker.destroy();
});

test("a HELLO claiming a live service's name changes where no call goes", { timeout: 60_000 }, async () => {
  const ns = await startNameService();
  await startService(ns, `
    luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
    luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { name: "server.ts" });
  // A victim that serves calls and itself calls PlusServer.
  const victim = await startService(ns, `
    luanet.RegRPCFunction("Echo", (x: unknown) => x);
    luanet.RegRPCFunction("AskPlus", function* () {
      const [sum, err] = yield* luanet.RPCCall("PlusServer", "Plus", { a: 1, b: 2 }, { timeout: 3000 });
      return err === null ? sum : err.code;
    });
    luanet.StartLocalService("Victim", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { name: "victim.ts" });
  const victimPort = await portOf(victim, "Victim");

  // The attacker's fake PlusServer answers every Plus with 666 and counts who dials it.
  let dialed = 0;
  const fake: Server = createServer((socket) => {
    dialed++;
    const decoder = new FrameDecoder(1 << 20);
    socket.on("data", (chunk) => decoder.push(chunk, (body) => {
      const v = rawCbor.decode(body) as unknown[];
      if (v[0] === Type.CALL) socket.write(frame(rawCbor.encode([Type.REPLY, v[1], 666])));
    }));
    socket.on("error", () => {});
  });
  servers.push(fake);
  await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
  const fakePort = (fake.address() as { port: number }).port;

  // HELLO as PlusServer at the fake's address, then a call, so the victim has something to
  // answer: it answers on this very connection.
  const attacker = await dial(victimPort);
  const reply = new Promise<unknown[]>((resolve) => {
    const decoder = new FrameDecoder(1 << 20);
    attacker.on("data", (chunk) => decoder.push(chunk, (body) => resolve(rawCbor.decode(body) as unknown[])));
  });
  await write(attacker, Buffer.concat([helloFrame("PlusServer", fakePort), frame(rawCbor.encode([Type.CALL, 7, "Echo", "hi"]))]));
  const answer = await within(reply, 5000, "reply on the attacker's connection").catch((error: Error) => error.message);

  // The victim's calls to PlusServer still reach the real one.
  for (let i = 0; i < 5; i++) {
    const r = await tool(ns, ["call", "Victim", "AskPlus"]);
    assert.equal(r.stdout.trim(), "3", r.stderr);
  }
  assert.equal(dialed, 0, "the victim never dialed the address the forged HELLO named");
  assert.deepEqual(answer, [Type.REPLY, 7, "hi"], "the reply came back on the attacker's own connection");
  attacker.destroy();
  fake.close();
});

test("CBOR outside the protocol's subset closes the link unread; the name service and the service keep answering", { timeout: 60_000 }, async () => {
  const ns = await startNameService();
  const svc = await startService(ns, `
    luanet.RegRPCFunction("Kind", (x: unknown) => Object.prototype.toString.call((x as { v: unknown }).v));
    luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
    luanet.StartLocalService("Target", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { name: "target.ts" });
  const port = await portOf(svc, "Target");
  const call = (func: string, argsCbor: string) =>
    frame(Buffer.concat([Buffer.from("8402" + "01" + (0x60 + func.length).toString(16), "hex"), Buffer.from(func), Buffer.from(argsCbor.replace(/\s+/g, ""), "hex")]));

  // The value-sharing bomb (24 levels, each the level below twice by reference) as a Register
  // to the name service, a live RegExp (tag 27) and a shared reference as handler arguments.
  let bomb = "d8 1c 81 00";
  for (let level = 1; level < 24; level++) bomb = `d8 1c 82 ${bomb} d8 1d ${(level - 1).toString(16).padStart(2, "0")}`;
  const attacks: [string, number, Buffer][] = [
    ["a value-sharing bomb to the name service", ns.port, call("Register", bomb)],
    ["a RegExp to a handler", port, call("Kind", "a1 61 76 d8 1b 82 66 52 65 67 45 78 70 62 61 2b")],
    ["a shared reference to a handler", port, call("Kind", "a1 61 76 d8 1c 81 01")],
    ["a cbor-x record to a handler", port, call("Kind", "a1 61 76 d8 69 83 01 81 61 61 02")],
  ];
  for (const [what, to, bytes] of attacks) {
    const socket = await dial(to);
    socket.on("error", () => {});
    let answered = false;
    socket.on("data", () => (answered = true));
    await write(socket, Buffer.concat([helloFrame(), bytes]));
    assert.equal(await closesWithin(socket, 5000), true, `${what}: the link is closed`);
    assert.equal(answered, false, `${what}: nothing was answered`);
  }
  await svc.waitFor(/CBOR outside the protocol's subset: tag 27/, 5000, "stderr");

  // The same handler, called properly, sees a plain value; the name service lists at once.
  const kind = await tool(ns, ["call", "Target", "Kind", '{"v":"a+"}']);
  assert.equal(kind.stdout.trim(), '"[object String]"', kind.stderr);
  const ls = await tool(ns, ["ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^Target\s/m);
});
