/**
 * Hostile UDP peers (issue 11, item 5), against live processes. A listener must send an address
 * that has not shown it receives nothing but one COOKIE no bigger than the datagram it answers,
 * keep no state for it, and key links so that a stale one cannot swallow a new caller's
 * datagrams. Forged sources are sent as raw IPv4 packets from python3 (root only).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { encode, PROTOCOL_VERSION, Type } from "../runtime/wire/envelope.ts";
import { lastJson, launch, poll, startNameService, startService, type NameService, type Service } from "./helpers/cluster.ts";
import { fixture, startProcess, tempDir } from "./helpers/proc.ts";
import { rssOf } from "./helpers/raw.ts";

const MiB = 1024 * 1024;
const notRoot = process.getuid?.() !== 0 ? "forging source addresses needs root (a raw socket)"
  : spawnSync("python3", ["--version"]).status !== 0 ? "forging source addresses needs python3 (for a raw socket)" : false;
const secretPath = join(tempDir(), "secret");
writeFileSync(secretPath, randomBytes(32).toString("hex") + "\n", { mode: 0o600 });
const SECRET = { LUANET_SECRET_FILE: secretPath };

/** A UDP service: Plus, Who (the caller's name, from its HELLO) and Big (a 50 KB result, for amplifying). */
const server = `
luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
luanet.RegRPCFunction("Who", (_: unknown, ctx: { from: string | null }) => ctx.from);
luanet.RegRPCFunction("Big", (_: unknown, ctx: { from: string | null }) => {
  console.log("ran: Big for " + ctx.from);
  return "x".repeat(50_000);
});
luanet.StartLocalService("UdpServer", SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
`;

/** An honest UDP caller named args[0]: args[1] rounds of Plus and Who, args[2] ms apart, each call
 * within args[3] ms (default 5000); prints a summary. */
const caller = `
luanet.StartLocalService(luanet.args[0]!, SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
export default function* (name: string, rounds: string, pause: string, ms = "5000") {
  const timeout = Number(ms);
  let ok = 0;
  const bad: unknown[] = [];
  for (let i = 0; i < Number(rounds); i++) {
    const [sum, err] = yield* luanet.RPCCall("UdpServer", "Plus", { a: i, b: 1 }, { timeout });
    const [who, err2] = yield* luanet.RPCCall("UdpServer", "Who", null, { timeout });
    if (sum === i + 1 && who === name) ok++;
    else bad.push({ sum, who, err: err?.message ?? err2?.message ?? null });
    if (Number(pause) > 0) yield* Sche.Sleep(Number(pause));
  }
  console.log(JSON.stringify({ ok, bad }));
  luanet.Exit(0);
}
`;

/** Sends the datagrams of a file of [source port: u16][length: u16][payload] records as raw IPv4
 * packets from 127.0.0.1:<source port>, a few per millisecond; prints how many. */
const spoofer = `
import socket, struct, sys, time
dst_port, path = int(sys.argv[1]), sys.argv[2]
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
data = open(path, "rb").read()
lo = socket.inet_aton("127.0.0.1")
i = n = 0
while i < len(data):
    sport, length = struct.unpack_from("!HH", data, i)
    payload = data[i + 4:i + 4 + length]
    i += 4 + length
    udp = struct.pack("!HHHH", sport, dst_port, 8 + length, 0) + payload
    raw.sendto(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0, lo, lo) + udp, ("127.0.0.1", 0))
    n += 1
    if n % 10 == 0:
        time.sleep(0.001)
print(n)
`;

/** Send `datagrams` to 127.0.0.1:`port`, each from its forged source port; resolves once all are out. */
async function spoof(port: number, datagrams: [number, Buffer][]): Promise<void> {
  const dir = fixture({ "spoof.py": spoofer });
  const records = datagrams.map(([from, payload]) => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(from, 0);
    head.writeUInt16BE(payload.length, 2);
    return Buffer.concat([head, payload]);
  });
  writeFileSync(join(dir, "datagrams"), Buffer.concat(records));
  const exit = await startProcess("python3", [join(dir, "spoof.py"), String(port), join(dir, "datagrams")]).exited(120_000);
  assert.equal(exit.code, 0, exit.stderr);
  assert.equal(Number(exit.stdout.trim()), datagrams.length);
}

const hello = (name: string, addr: { port: number }) =>
  encode([Type.HELLO, PROTOCOL_VERSION, name, { family: "inet", ip: "127.0.0.1", port: addr.port }, 4242, "dgram"]);
const call = (func: string) => encode([Type.CALL, 1 + Math.floor(Math.random() * 2 ** 31), func, null]);
/** [hello length: u16][hello][body], the frame part of a datagram. */
function frame(helloBody: Uint8Array, body: Uint8Array): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(helloBody.length, 0);
  return Buffer.concat([head, helloBody, body]);
}
/** What a hostile sender tries, in turn: the protocol-1 datagram (no route header), a FRAME from a
 * made-up link, an ECHO of a made-up cookie, a PROBE, and datagrams too small for a COOKIE. */
function attack(i: number, payload: Buffer): Buffer {
  const cid = randomBytes(4);
  switch (i % 5) {
    case 0: return payload;
    case 1: return Buffer.concat([cid, Buffer.of(0), payload]);
    case 2: return Buffer.concat([cid, Buffer.of(1), randomBytes(16), payload]);
    case 3: return Buffer.concat([cid, Buffer.of(2), Buffer.alloc(12)]);
    default: return randomBytes(5 + (i % 12));
  }
}

/** A socket that counts what reaches it. */
async function counter(): Promise<{ socket: dgram.Socket; port: number; got: Buffer[] }> {
  const socket = dgram.createSocket("udp4");
  const got: Buffer[] = [];
  socket.on("message", (d) => got.push(d));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { socket, port: socket.address().port, got };
}

const bytes = (xs: Buffer[]) => xs.reduce((n, x) => n + x.length, 0);
const isCookie = (d: Buffer) => d.length === 17 && d[0] === 5;
const rss = (svc: Service) => rssOf(svc.child.pid!);
/** Datagrams the kernel dropped for a full receive buffer on 127.0.0.1:`port` (/proc/net/udp). */
function drops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const line = readFileSync("/proc/net/udp", "utf8").split("\n").find((l) => l.trim().split(/\s+/)[1] === local);
  return Number(line?.trim().split(/\s+/).at(-1) ?? NaN);
}
const portOf = (svc: Service) => Number(/UdpServer listening on 127\.0\.0\.1:(\d+)/.exec(svc.stderr)![1]);

/** Run `n` honest callers (5 at a time) of `rounds` rounds each; returns how many got every answer right. */
async function honest(ns: NameService, prefix: string, n: number, rounds: number, env: NodeJS.ProcessEnv = {}): Promise<number> {
  let good = 0;
  for (let i = 0; i < n; i += 5) {
    const batch = Array.from({ length: Math.min(5, n - i) }, (_, j) => `${prefix}${i + j}`);
    const exits = await Promise.all(batch.map((name) => launch(ns, caller, { name: "caller.ts", args: [name, String(rounds), "0"], env }).exited(30_000)));
    for (const exit of exits) {
      const out = lastJson<{ ok: number; bad: unknown[] }>(exit.stdout);
      assert.deepEqual(out.bad, [], exit.stderr);
      if (out.ok === rounds) good++;
    }
  }
  return good;
}

describe("hostile UDP peers", { timeout: 120_000 }, () => {
  test("amplification: an address that never echoed a cookie gets one COOKIE per datagram, never more bytes than it sent; no handler runs; an honest caller meanwhile gets every answer", async (t) => {
    const ns = await startNameService();
    const svc = await startService(ns, server, { name: "server.ts" });
    const port = portOf(svc);
    const attacker = await counter();
    const victim = await counter();
    try {
      const meanwhile = launch(ns, caller, { name: "caller.ts", args: ["Meanwhile", "100", "10"] }).exited(60_000);
      const payload = frame(hello("Mallory", { port: victim.port }), call("Big"));
      let sent = 0, sentBig = 0;
      for (let i = 0; i < 2000; i++) {
        const datagram = attack(i, payload);
        sent += datagram.length;
        if (datagram.length >= 17) sentBig++;
        attacker.socket.send(datagram, port, "127.0.0.1");
        if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const out = await meanwhile;
      assert.deepEqual(lastJson(out.stdout), { ok: 100, bad: [] }, out.stderr);
      await poll("the COOKIEs", () => (attacker.got.length > 0 ? true : undefined), 5000);
      t.diagnostic(`sent ${sent} bytes in 2000 datagrams; got back ${bytes(attacker.got)} bytes in ${attacker.got.length} datagrams; the third address got ${bytes(victim.got)}`);
      assert.ok(attacker.got.every(isCookie), "nothing but COOKIEs went to the unproven address");
      assert.ok(attacker.got.length <= sentBig, `at most one COOKIE per datagram of 17 bytes or more (${attacker.got.length} > ${sentBig})`);
      assert.ok(bytes(attacker.got) <= sent, "no more bytes out than in");
      assert.equal(victim.got.length, 0, "nothing went to the address a HELLO named");
      assert.doesNotMatch(svc.stdout, /ran: Big/);
    } finally {
      attacker.socket.close();
      victim.socket.close();
    }
  });

  test("24,000 datagrams from forged, recycled source ports, then 10 honest callers: 10 of 10 correct, each known by its own HELLO; the forged sources got only COOKIEs; rss bounded", { skip: notRoot }, async (t) => {
    const ns = await startNameService();
    const svc = await startService(ns, server, { name: "server.ts" });
    const port = portOf(svc);
    const witness = await counter(); // one of the forged source ports has a socket behind it, to see what the forged sources get
    try {
      const payload = frame(hello("Mallory", { port: witness.port }), call("Big"));
      // The ports the kernel hands out next (its ephemeral range), so honest callers reuse them.
      const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number) as [number, number];
      const ports = [witness.port, ...Array.from({ length: high - low + 1 }, (_, i) => low + i).filter((p) => p !== witness.port)].slice(0, 24_000);
      assert.equal(ports.length, 24_000);
      const datagrams = ports.map((from, i): [number, Buffer] => [from, attack(i === 0 ? 1 : i, payload)]);
      const before = rss(svc);
      const meanwhile = launch(ns, caller, { name: "caller.ts", args: ["Meanwhile", "50", "20"] }).exited(60_000);
      await spoof(port, datagrams);
      const after = rss(svc);
      const out = await meanwhile;
      assert.deepEqual(lastJson(out.stdout), { ok: 50, bad: [] }, out.stderr);
      t.diagnostic(`server rss ${(before / MiB).toFixed(1)} MiB before the 24,000 forged datagrams, ${(after / MiB).toFixed(1)} MiB after; ${drops(port)} dropped by a full socket buffer`);
      assert.ok(after - before < 24 * MiB, `rss grew by ${((after - before) / MiB).toFixed(1)} MiB (bound: 24 MiB)`);

      assert.equal(await honest(ns, "Honest", 10, 1), 10, "10 of 10 honest callers got correct answers");
      await poll("the witness's COOKIE", () => (witness.got.length > 0 ? true : undefined), 5000);
      assert.ok(witness.got.every(isCookie) && witness.got.length === 1, `the forged source got one COOKIE and nothing else (${witness.got.map((d) => d.length)})`);
      assert.doesNotMatch(svc.stdout, /ran: Big/);
      assert.doesNotMatch(svc.stderr, /maximum of/);
    } finally {
      witness.socket.close();
    }
  });

  test("with the cluster secret: 20,000 CHALLENGEs from forged source ports leave no pending handshake; members still connect and call, during and after", { skip: notRoot }, async (t) => {
    const ns = await startNameService({ env: SECRET });
    const svc = await startService(ns, server, { name: "server.ts", env: SECRET });
    const port = portOf(svc);
    // 10,000 bare CHALLENGEs (what filled every slot before routes and cookies), then 10,000 more
    // behind a route header: half with no cookie, half echoing a made-up one.
    const challenge = () => Buffer.concat([Buffer.of(1), randomBytes(16)]);
    const routes = [() => Buffer.alloc(0), () => Buffer.concat([randomBytes(4), Buffer.of(0)]), () => Buffer.concat([randomBytes(4), Buffer.of(1), randomBytes(16)])];
    const datagrams = Array.from({ length: 20_000 }, (_, i): [number, Buffer] =>
      [20_000 + i, Buffer.concat([routes[i < 10_000 ? 0 : 1 + (i % 2)]!(), challenge()])]);
    const before = rss(svc);
    const meanwhile = launch(ns, caller, { name: "caller.ts", args: ["Meanwhile", "50", "20"], env: SECRET }).exited(60_000);
    await spoof(port, datagrams);
    const after = rss(svc);
    const out = await meanwhile;
    assert.deepEqual(lastJson(out.stdout), { ok: 50, bad: [] }, out.stderr);
    t.diagnostic(`server rss ${(before / MiB).toFixed(1)} MiB before the 20,000 forged CHALLENGEs, ${(after / MiB).toFixed(1)} MiB after; ${drops(port)} dropped by a full socket buffer`);
    assert.ok(after - before < 24 * MiB, `rss grew by ${((after - before) / MiB).toFixed(1)} MiB (bound: 24 MiB)`);
    assert.equal(await honest(ns, "Member", 5, 2, SECRET), 5, "every member got correct answers");
    assert.doesNotMatch(svc.stderr, /maximum of|no signed datagram within/, "no handshake was left pending, none refused for the bound");
  });

  test("at maxConnections UDP links a new caller gets no answer, and the refusal is logged; the callers holding links keep getting answers", async () => {
    const ns = await startNameService();
    const svc = await startService(ns, "luanet.Configure({ maxConnections: 2 });\n" + server, { name: "server.ts" });
    const holder = launch(ns, caller, { name: "caller.ts", args: ["Holder", "100", "20"] }).exited(60_000);
    assert.equal(await honest(ns, "Early", 1, 1), 1, "a second caller gets the second link");
    const late = await launch(ns, caller, { name: "caller.ts", args: ["Late", "1", "0", "1000"] }).exited(30_000);
    const out = lastJson<{ ok: number; bad: { err: string | null }[] }>(late.stdout);
    assert.equal(out.ok, 0, late.stdout);
    assert.match(String(out.bad[0]?.err), /did not answer within 1000 ms/, late.stdout);
    // Logged at once, or folded into the next second's summary line if another came just before.
    await svc.waitFor(/(?:WARN refused|the last was) 127\.0\.0\.1:\d+: already at the maximum of 2 UDP links/, 5000, "stderr");
    const held = await holder;
    assert.deepEqual(lastJson(held.stdout), { ok: 100, bad: [] }, held.stderr);
  });

  test("the replies kept for answering resent calls are bounded in bytes over all links: 2,400 results of 50 KB leave rss bounded, and no call ran twice", async (t) => {
    const ns = await startNameService();
    const svc = await startService(ns, server, { name: "server.ts" });
    const before = rss(svc);
    // Three callers, 20 tasks each, 40 Big calls per task: 120 MB of results, each kept for resends.
    const bigCaller = `
      luanet.StartLocalService(luanet.args[0]!, SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
      export default function* () {
        let ok = 0;
        const tasks = Array.from({ length: 20 }, () => Sche.Spawn(function* () {
          for (let i = 0; i < 40; i++) {
            const [r] = yield* luanet.RPCCall<string>("UdpServer", "Big", null, { timeout: 10_000 });
            if (r?.length === 50_000) ok++;
          }
        }));
        for (const task of tasks) yield* task;
        console.log(JSON.stringify({ ok }));
        luanet.Exit(0);
      }
    `;
    const runs = await Promise.all(["BigA", "BigB", "BigC"].map((name) => launch(ns, bigCaller, { name: "big.ts", args: [name] }).exited(90_000)));
    // 50 KB datagrams are IP fragments that a busy loopback can drop: a few calls may time out.
    const ok = runs.reduce((n, r) => n + lastJson<{ ok: number }>(r.stdout).ok, 0);
    assert.ok(ok >= 2300, `only ${ok} of 2,400 calls succeeded`);
    const after = rss(svc);
    t.diagnostic(`server rss ${(before / MiB).toFixed(1)} MiB before 2,400 results of 50 KB, ${(after / MiB).toFixed(1)} MiB after`);
    assert.ok(after - before < 96 * MiB, `rss grew by ${((after - before) / MiB).toFixed(1)} MiB (bound: 96 MiB; the kept replies are at most 16 MiB, against 150 MB unbounded)`);
    const ran = svc.stdout.match(/ran: Big/g)?.length ?? 0;
    assert.ok(ran >= ok && ran <= 2400, `Big ran ${ran} times for 2,400 calls, ${ok} of them answered: no call ran twice`);
  });

  test("with the cluster secret, an attacker without it that opens 3,000 handshakes from a real address (echoing each cookie) locks no member out", async () => {
    const ns = await startNameService({ env: SECRET });
    const svc = await startService(ns, "luanet.Configure({ maxConnections: 200 });\n" + server, { name: "server.ts", env: SECRET });
    const port = portOf(svc);
    const attacker = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => attacker.bind(0, "127.0.0.1", resolve));
    try {
      // For each of 3,000 connection ids: PROBE, then echo its COOKIE with a CHALLENGE behind it,
      // and never answer. (A COOKIE names no connection id, so one at a time.)
      let next: ((cookie: Buffer) => void) | null = null;
      attacker.on("message", (datagram) => {
        if (datagram.length === 17 && datagram[0] === 5) next?.(datagram.subarray(1));
      });
      let echoed = 0;
      for (let i = 0; i < 3000; i++) {
        const cid = randomBytes(4);
        const got = await new Promise<Buffer | null>((resolve) => {
          const timer = setTimeout(() => resolve(null), 1000);
          next = (c) => {
            clearTimeout(timer);
            resolve(c);
          };
          attacker.send(Buffer.concat([cid, Buffer.of(2), Buffer.alloc(12)]), port, "127.0.0.1");
        });
        if (got === null) continue;
        attacker.send(Buffer.concat([cid, Buffer.of(1), got, Buffer.of(1), randomBytes(16)]), port, "127.0.0.1");
        echoed++;
      }
      assert.ok(echoed >= 2900, `the attacker opened ${echoed} handshakes`);
      assert.equal(await honest(ns, "Member", 5, 2, SECRET), 5, "every member connected and got correct answers");
      await svc.waitFor(/closed \d+ UDP link\(s\) that had not yet sent a request/, 5000, "stderr");
    } finally {
      attacker.close();
    }
  });
});
