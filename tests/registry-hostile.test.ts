/**
 * Names under attack, on the name service and on etcd (issue 11, item 3, and the registration
 * checks of items 4 and 10): the holder's token is never published; a thief re-registering with
 * everything it can read is refused and the real service keeps its name; a registration taken or
 * rewritten behind the holder's back is claimed back; malformed registrations are refused
 * (`bad_request`, naming the field) or, read from etcd, ignored; and meanwhile a well-behaved
 * client keeps getting correct answers.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { frame, rawCbor, rssOf } from "./helpers/raw.ts";
import { decode, encode, PROTOCOL_VERSION } from "../runtime/wire/envelope.ts";
import { FrameDecoder } from "../runtime/wire/frame.ts";
import { lastJson, launch, poll, startNameService, startService, tool, type Service } from "./helpers/cluster.ts";
import { etcdUnavailable, freePorts, startEtcd, type EtcdCluster } from "./helpers/etcd.ts";
import { root, runLuanet } from "./helpers/proc.ts";

const PUBLIC_FIELDS = ["addr", "funcs", "groups", "host", "name", "pid", "started", "type"];

// --- a raw name service client: HELLO, then CALLs on one connection, replies by id -------------


class RawClient {
  private next = 1;
  private readonly waiting = new Map<number, (reply: { envelope: unknown[]; bytes: Buffer }) => void>();
  private constructor(private readonly socket: Socket) {
    const decoder = new FrameDecoder(64 << 20);
    socket.on("data", (chunk) => decoder.push(chunk, (body) => {
      const envelope = decode(body) as unknown as unknown[];
      this.waiting.get(envelope[1] as number)?.({ envelope, bytes: Buffer.from(body) });
    }));
    socket.on("error", () => {});
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(frame(encode([0, PROTOCOL_VERSION, null, null, process.pid, null])));
        resolve(new RawClient(socket));
      });
      socket.once("error", reject);
    });
  }

  /** CALL `func` and wait (5 s at most) for its REPLY or ERROR: the envelope and its raw bytes. */
  call(func: string, args: unknown): Promise<{ envelope: unknown[]; bytes: Buffer }> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${func} within 5 s`)), 5000);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(reply);
      });
      this.socket.write(frame(rawCbor.encode([2, id, func, args])));
    });
  }

  /** The result of `func`, or a thrown Error "code: message". */
  async result(func: string, args: unknown): Promise<unknown> {
    const { envelope } = await this.call(func, args);
    if (envelope[0] === 4) throw new Error(`${envelope[2] as string}: ${envelope[3] as string}`);
    return envelope[2];
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.destroy();
    });
  }
}

// --- the processes -------------------------------------------------------------------------------

/** The victim: prints its secret token (read from the runtime, as only it can) and serves Who. */
const victim = (name: string) => `
import { runtime } from ${JSON.stringify(join(root, "dist/runtime/process.js"))};
luanet.RegRPCFunction("Who", () => "real");
luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
console.log(JSON.stringify({ token: runtime.root.token }));
`;

/** A well-behaved client: calls `name`.Who for `ms`, counting right and wrong answers. */
const caller = (name: string) => `
export default function* (ms: string) {
  let ok = 0, bad = 0;
  const until = Date.now() + Number(ms);
  while (Date.now() < until) {
    const [who, err] = yield* luanet.RPCCall(${JSON.stringify(name)}, "Who", null, { timeout: 3000 });
    if (err === null && who === "real") ok++; else { bad++; console.log("wrong:", who, err?.code, err?.message); }
    yield* Sche.Sleep(20);
  }
  console.log(JSON.stringify({ ok, bad }));
  luanet.Exit(0);
}
`;

async function callerResult(client: Service): Promise<void> {
  const exit = await client.exited(30_000);
  assert.equal(exit.code, 0, exit.stderr);
  const { ok, bad } = lastJson<{ ok: number; bad: number }>(exit.stdout);
  assert.equal(bad, 0, `every answer came from the real service:\n${exit.stdout}`);
  assert.ok(ok > 10, `the client made ${ok} good calls`);
}

const tokenOf = (svc: Service) => poll("the victim's token", () => /"token":"([^"]+)"/.exec(svc.stdout)?.[1]);
const rssKiB = (pid: number) => Math.round(rssOf(pid) / 1024);

// --- the name service ------------------------------------------------------------------------

describe("a name at the name service", { concurrency: true }, () => {
  test("groups from a raw client: Members checks its argument, watches by long poll (64 per connection at most), and a group and a service never share a name", async () => {
    const ns = await startNameService({ env: { LUANET_NS_RECOVERY_MS: "0" } });
    const reg = (name: string, groups: unknown, port: number) => ({ name, type: "stream", addr: { family: "inet", ip: "127.0.0.1", port }, pid: 1, host: "h", funcs: [], started: 1, groups, token: `token-of-${name}-0123456789` });
    const a = await RawClient.open(ns.port);
    const b = await RawClient.open(ns.port);
    const watcher = await RawClient.open(ns.port);
    try {
      await assert.rejects(a.result("Members", { group: "" }), /^Error: bad_request: Members\(\{ group, known\?, wait\? \}\): group: a name must not be empty/);
      await assert.rejects(a.result("Members", null), /bad_request/);
      await assert.rejects(a.result("Register", reg("A", "Room", 1)), /bad_request: Register\(info\): groups must be an array of group names/);
      await assert.rejects(a.result("Register", reg("A", ["A"], 1)), /bad_request: .*cannot be a member of a group with its own name/);
      const empty = await a.result("Members", { group: "Room" }) as { version: string; members: unknown[] };
      assert.deepEqual(empty.members, []);
      // A watch on the empty group answers when A joins it.
      const watch = watcher.result("Members", { group: "Room", known: empty.version, wait: 10_000 });
      assert.equal(await a.result("Register", reg("A", ["Room", "Room"], 1)), null);
      const woke = await watch as { version: string; members: { name: string; groups: string[] }[] };
      assert.notEqual(woke.version, empty.version);
      assert.deepEqual(woke.members.map((m) => [m.name, m.groups]), [["A", ["Room"]]], "listed once, its duplicate group once");
      // The namespace, both ways.
      await assert.rejects(b.result("Register", reg("Room", [], 2)), /name_taken: the name "Room" is a group's/);
      await assert.rejects(b.result("Register", reg("B", ["A"], 2)), /name_taken: B cannot join the group "A": the name "A" is held by pid 1/);
      assert.equal(await a.result("GetInfo", { name: "Room" }), null);
      // 64 watches wait on one connection; the 65th answers at once, unchanged.
      const waits = Array.from({ length: 64 }, () => watcher.result("Members", { group: "Room", known: woke.version, wait: 20_000 }));
      const extra = await watcher.result("Members", { group: "Room", known: woke.version, wait: 20_000 }) as { version: string };
      assert.equal(extra.version, woke.version);
      // A leaves (its connection closes): every watch answers, with no members.
      await a.close();
      for (const w of await Promise.all(waits)) assert.deepEqual((w as { members: unknown[] }).members, []);
    } finally {
      await b.close();
      await watcher.close();
    }
  });

  test("the token is never published; a thief re-registering with all it can read is refused", async () => {
    const ns = await startNameService();
    const real = await startService(ns, victim("Victim"));
    const token = await tokenOf(real);
    const client = launch(ns, caller("Victim"), { args: ["5000"] });

    const thief = await RawClient.open(ns.port);
    const got = await thief.call("GetInfo", { name: "Victim" });
    const listed = await thief.call("List", null);
    const funcs = await thief.call("GetRemoteFunc", { func: "Who" });
    for (const reply of [got, listed, funcs]) assert.ok(!reply.bytes.includes(token), "no reply carries the token");
    const info = got.envelope[2] as Record<string, unknown>;
    assert.deepEqual(Object.keys(info).sort(), PUBLIC_FIELDS);
    assert.deepEqual(Object.keys((listed.envelope[2] as object[])[0]!).sort(), PUBLIC_FIELDS);
    const ls = await tool(ns, ["ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok(!ls.stdout.includes(token), "luanet ls does not show the token");

    // Everything it read, with and without a token of its own, pointing the name at nowhere.
    const [nowhere] = await freePorts(1);
    const stolen = { ...info, addr: { family: "inet", ip: "127.0.0.1", port: nowhere }, instance: `${info.pid}-guess` };
    await assert.rejects(thief.result("Register", info), /^Error: bad_request: Register\(info\): token must be text/);
    for (const guess of [randomBytes(18).toString("base64url"), "x".repeat(24)]) {
      await assert.rejects(thief.result("Register", { ...info, token: guess }), new RegExp(`name_taken: the name "Victim" is held by pid ${real.child.pid} `));
      await assert.rejects(thief.result("Register", { ...stolen, token: guess }), /name_taken/);
    }
    assert.equal((await tool(ns, ["call", "Victim", "Who"])).stdout.trim(), '"real"', "while the thief is connected");
    await thief.close();
    assert.equal((await tool(ns, ["call", "Victim", "Who"])).stdout.trim(), '"real"', "after the thief left");
    const check = await RawClient.open(ns.port);
    assert.deepEqual(await check.result("GetInfo", { name: "Victim" }), info, "the registration is the real one, unchanged");
    await check.close();
    await callerResult(client);
  });

  test("a name taken while its holder was away is claimed back when the taker leaves", async () => {
    const [port] = await freePorts(1);
    const first = await startNameService({ port });
    const real = await startService(first, victim("Away"));
    const client = launch(first, caller("Away"), { args: ["1500"] });
    await callerResult(client);
    // The holder freezes; the name service restarts; someone else registers the name first.
    process.kill(real.child.pid!, "SIGSTOP");
    try {
      process.kill(first.proc.child.pid!, "SIGKILL");
      await first.proc.exited(5000).catch(() => {});
      const ns = await startNameService({ port });
      const taker = await RawClient.open(ns.port);
      const [nowhere] = await freePorts(1);
      const info = { name: "Away", type: "stream", addr: { family: "inet", ip: "127.0.0.1", port: nowhere }, pid: 1, host: "elsewhere", funcs: ["Who"], started: Date.now() };
      assert.equal(await taker.result("Register", { ...info, token: randomBytes(18).toString("base64url") }), null);
      process.kill(real.child.pid!, "SIGCONT");
      await real.waitFor(/Away lost its name at the name service at [^\n]*the name "Away" is held by pid 1 on elsewhere/, 10_000, "stderr");
      await taker.close();
      await real.waitFor(/Away registered with the name service at \S+ again/, 10_000, "stderr");
      assert.equal((await tool(ns, ["call", "Away", "Who"])).stdout.trim(), '"real"');
      await callerResult(launch(ns, caller("Away"), { args: ["1500"] }));
    } finally {
      process.kill(real.child.pid!, "SIGCONT");
    }
  });

  test("bad registrations are refused with bad_request naming the field; the name service keeps serving", async () => {
    const ns = await startNameService();
    await startService(ns, victim("Steady"));
    const client = launch(ns, caller("Steady"), { args: ["6000"] });
    const rssBefore = rssKiB(ns.proc.child.pid!);

    const good = { name: "Fine", type: "stream", addr: { family: "inet", ip: "127.0.0.1", port: 1 }, pid: 1, host: "h", funcs: ["F"], started: 0, token: randomBytes(18).toString("base64url") };
    const cases: [string, unknown, RegExp][] = [
      ["a NUL in the name", { ...good, name: "a\u0000b" }, /name: a name must not contain control characters/],
      ["a right-to-left override", { ...good, name: "\u202eevil" }, /name: .*bidirectional-text controls/],
      ["a leading space", { ...good, name: " Steady" }, /name: a name must not start or end with white space/],
      ["a 1 MB name", { ...good, name: "n".repeat(1 << 20) }, /name: a name must be at most 255 characters/],
      ["a million funcs", { ...good, funcs: new Array<string>(1_000_000).fill("f") }, /funcs lists 1000000 functions, more than the 1024 allowed/],
      ["a function that is not text", { ...good, funcs: ["ok", 7] }, /funcs\[1\]: a name must be a string/],
      ["funcs not an array", { ...good, funcs: "F" }, /funcs must be an array/],
      ["250 KB of function names", { ...good, funcs: Array.from({ length: 1000 }, (_, i) => `${i}`.padEnd(250, "f")) }, /the registration is \d+ bytes as JSON, more than the 65536 allowed/],
      ["a pid that is text", { ...good, pid: "12" }, /pid must be a non-negative integer/],
      ["an address that is not one", { ...good, addr: { family: "inet", ip: "nope", port: 1 } }, /addr must be a NetAddr/],
      ["an unknown socket type", { ...good, type: "raw" }, /type must be "stream" or "dgram"/],
      ["a 1000-character host", { ...good, host: "h".repeat(1000) }, /host: a name must be at most 255/],
      ["a start time that is text", { ...good, started: "yesterday" }, /started must be a finite number/],
      ["a short token", { ...good, token: "short" }, /token must be text of 16 to 128 characters/],
      ["no map at all", 42, /info must be a map/],
      ["an array", [good], /info must be a map/],
    ];
    const raw = await RawClient.open(ns.port);
    for (const [what, info, expected] of cases) {
      await assert.rejects(raw.result("Register", info), (e: Error) => {
        assert.match(e.message, /^bad_request: Register\(info\): /, what);
        assert.match(e.message, expected, what);
        return true;
      });
    }
    // One connection carries one registration.
    assert.equal(await raw.result("Register", good), null);
    await assert.rejects(raw.result("Register", { ...good, name: "Second" }), /bad_request: .*this connection holds the registration of "Fine" already/);
    // Extra fields are not kept.
    assert.equal(await raw.result("Register", { ...good, extra: "x".repeat(1000) }), null);
    const listed = await raw.result("List", null) as { name: string }[];
    assert.deepEqual(listed.map((i) => i.name).sort(), ["Fine", "Steady"]);
    for (const info of listed) assert.deepEqual(Object.keys(info).sort(), PUBLIC_FIELDS);
    await raw.close();

    await callerResult(client);
    assert.equal(ns.proc.child.exitCode, null, "the name service is running");
    const rssAfter = rssKiB(ns.proc.child.pid!);
    console.log(`name service rss: ${rssBefore} KiB before the bad registrations, ${rssAfter} KiB after`);
    assert.ok(rssAfter < rssBefore + 200 * 1024, `the name service grew from ${rssBefore} to ${rssAfter} KiB`);
    assert.equal((await tool(ns, ["call", "Steady", "Who"])).stdout.trim(), '"real"');
  });
});

test("300 registrations of 60 KB each (18 MB, more than a frame): luanet ls still lists every one, page by page, and GetRemoteFunc answers from an index", { timeout: 90_000 }, async () => {
  const ns = await startNameService();
  const funcs = Array.from({ length: 240 }, (_, i) => `shared_function_${i}_${"f".repeat(220)}`);
  const fillers = await Promise.all(Array.from({ length: 300 }, () => RawClient.open(ns.port)));
  try {
    await Promise.all(fillers.map((c, i) => c.result("Register", {
      name: `filler-${String(i).padStart(3, "0")}`, type: "stream", addr: { family: "inet", ip: "127.0.0.1", port: 1 },
      pid: 1, host: "h", funcs, started: 0, token: `filler-token-${i}-${"t".repeat(16)}`,
    })));
    const ls = await tool(ns, ["ls"], 30_000);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(ls.stdout.match(/^filler-\d{3}\s/gm)?.length, 300, "every filler is listed");
    // 3,000 look-ups of a function all 300 provide: answered from the index, not by scanning 72,000 names each.
    const asker = await RawClient.open(ns.port);
    const answers = await Promise.all(Array.from({ length: 3000 }, () => asker.result("GetRemoteFunc", { func: funcs[239] })));
    assert.ok(answers.every((a) => (a as string[]).length === 300));
    await asker.close();
  } finally {
    await Promise.all(fillers.map((c) => c.close()));
  }
});

test("a service's own registration is checked before it is sent: too many functions at first fail Register2Name, later ones keep the earlier list", async () => {
  const ns = await startNameService();
  const tooMany = await launch(ns, `
    for (let i = 0; i < 1025; i++) luanet.RegRPCFunction("F" + i, () => i);
    luanet.StartLocalService("Big", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    export default function* () {
      const e = yield* luanet.Register2Name(NS);
      console.log(JSON.stringify(e === null ? { registered: true } : { code: e.code, message: e.message }));
      let refused = "";
      try { luanet.RegRPCFunction(" Padded", () => 0); } catch (e) { refused = (e as Error).message; }
      console.log(JSON.stringify({ refused }));
      process.exit(0);
    }
  `).exited(20_000);
  assert.equal(tooMany.code, 0, tooMany.stderr);
  const [outcome, refused] = tooMany.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
  assert.equal(outcome!.code, "bad_request");
  assert.match(outcome!.message!, /cannot register Big: funcs lists 1025 functions, more than the 1024 allowed/);
  assert.match(refused!.refused!, /luanet\.RegRPCFunction\(name, fn\): name: a name must not start or end with white space/);

  const grows = await startService(ns, `
    for (let i = 0; i < 1024; i++) luanet.RegRPCFunction("F" + i, () => i);
    luanet.StartLocalService("Grows", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
    export default function* () {
      yield* Sche.Sleep(300);
      luanet.RegRPCFunction("OneTooMany", () => "late");
    }
  `);
  await grows.waitFor(/Grows cannot publish its functions any more \(funcs lists 1025 functions, more than the 1024 allowed\); its registration keeps the earlier list/, 10_000, "stderr");
  const raw = await RawClient.open(ns.port);
  const info = await raw.result("GetInfo", { name: "Grows" }) as { funcs: string[] };
  assert.equal(info.funcs.length, 1024);
  await raw.close();
  assert.equal((await tool(ns, ["call", "Grows", "OneTooMany"])).stdout.trim(), '"late"', "the function itself works");
  assert.equal((await tool(ns, ["call", "Grows", "F7"])).stdout.trim(), "7");
});

// --- etcd --------------------------------------------------------------------------------------

/** etcd's JSON gateway (v3), for a raw writer that does what it likes with luanet's keys. */
class RawEtcd {
  constructor(private readonly endpoint: string) {}
  private async post(path: string, body: object): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.endpoint}/v3/kv/${path}`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200, `etcd ${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }
  async get(key: string): Promise<{ value: string; lease: string; create_revision: string } | null> {
    const r = await this.post("range", { key: b64(key) });
    const kv = (r.kvs as { value: string; lease?: string; create_revision: string }[] | undefined)?.[0];
    return kv === undefined ? null : { value: Buffer.from(kv.value, "base64").toString(), lease: kv.lease ?? "0", create_revision: kv.create_revision };
  }
  put(key: string, value: string): Promise<unknown> {
    return this.post("put", { key: b64(key), value: b64(value) });
  }
  delete(key: string): Promise<unknown> {
    return this.post("deleterange", { key: b64(key) });
  }
}
const b64 = (text: string) => Buffer.from(text).toString("base64");
const etcdTool = (registry: string, args: string[]) => runLuanet([...args, "--registry", registry], { timeoutMs: 15_000 });

// Each test skips (counted by the runner, as a skipped suite is not) where there is no etcd to use.
describe("a name in etcd", { concurrency: true }, () => {
  let url: string;
  let endpoint: string;
  let own: EtcdCluster | null = null;
  before(async () => {
    if (etcdUnavailable) return;
    const shared = process.env.LUANET_TEST_ETCD;
    if (shared) {
      endpoint = shared.split(",")[0]!.trim().replace(/^etcd:\/\//, "http://").replace(/^(?!https?:)/, "http://");
      url = "etcd://" + shared.split(",").map((e) => e.trim().replace(/^(etcd|https?):\/\//, "")).join(",");
    } else {
      own = await startEtcd(1);
      url = own.url;
      endpoint = own.members[0]!.endpoint;
    }
  });
  after(async () => {
    await own?.stop();
  });
  /** A registry of the test's own: its own key prefix. */
  const isolated = () => {
    const prefix = `/t-${randomBytes(4).toString("hex")}`;
    return { registry: `${url}${prefix}`, prefix };
  };

  test("the value holds no token; a key rewritten or deleted behind the holder's back is claimed back", { skip: etcdUnavailable }, async () => {
    const { registry, prefix } = isolated();
    const env = { LUANET_REGISTRY: registry, LUANET_ETCD_TTL: "2" };
    const real = launch("127.0.0.1:1", victim("Victim"), { env });
    await real.waitFor(/Victim registered in etcd at /, 20_000, "stderr");
    const token = await tokenOf(real);
    const etcd = new RawEtcd(endpoint);
    const key = `${prefix}/services/Victim`;
    const mine = (await etcd.get(key))!;
    assert.ok(!mine.value.includes(token), "etcd's value does not carry the token");
    const info = JSON.parse(mine.value) as Record<string, unknown>;
    assert.deepEqual(Object.keys(info).sort(), PUBLIC_FIELDS);
    assert.notEqual(mine.lease, "0");
    const client = launch("127.0.0.1:1", caller("Victim"), { args: ["8000"], env });

    const [nowhere] = await freePorts(1);
    const attacks: [string, () => Promise<unknown>][] = [
      ["a copy pointing elsewhere", () => etcd.put(key, JSON.stringify({ ...info, addr: { family: "inet", ip: "127.0.0.1", port: nowhere } }))],
      ["an exact copy of its public fields, on no lease", () => etcd.put(key, mine.value)],
      ["a value that is not a registration", () => etcd.put(key, "garbage")],
      ["a delete", () => etcd.delete(key)],
    ];
    for (const [what, attack] of attacks) {
      await attack();
      await poll(`${what} claimed back`, async () => {
        const now = await etcd.get(key);
        return now !== null && now.value === mine.value && now.lease === mine.lease ? true : undefined;
      }, 10_000);
    }
    assert.match(real.stderr, /Victim's key in etcd was changed by another writer \(a registration of pid \d+ on \S+ at 127\.0\.0\.1:\d+, on no lease\); claimed it back/);
    assert.equal((await etcdTool(registry, ["call", "Victim", "Who"])).stdout.trim(), '"real"');
    await callerResult(client);
  });

  test("malformed values in etcd are ignored and logged once; readers keep working", { skip: etcdUnavailable }, async () => {
    const { registry, prefix } = isolated();
    const env = { LUANET_REGISTRY: registry };
    const real = launch("127.0.0.1:1", victim("Fine"), { env });
    await real.waitFor(/Fine registered in etcd at /, 20_000, "stderr");
    const etcd = new RawEtcd(endpoint);
    const good = JSON.parse((await etcd.get(`${prefix}/services/Fine`))!.value) as Record<string, unknown>;
    const bad: [string, string][] = [
      ["services/NotJson", "{"],
      ["services/Mismatch", JSON.stringify({ ...good, name: "Other" })],
      ["services/WrongTypes", JSON.stringify({ ...good, name: "WrongTypes", pid: "x", funcs: "Who" })],
      ["services/Big", JSON.stringify({ ...good, name: "Big", host: "h".repeat(1 << 20) })],
      ["services/%E0%A4%A", JSON.stringify(good)],
      ["services/%20Lead", JSON.stringify({ ...good, name: " Lead" })],
      ["funcs/Who/Junk", "\u202e".repeat(300)],
      ["funcs/%zz/Junk", "Junk"],
    ];
    // A reader with its watch up before the bad values arrive, and one that reads them afterwards.
    const client = launch("127.0.0.1:1", `
      export default function* () {
        let ok = 0, bad = 0;
        const until = Date.now() + 6000;
        while (Date.now() < until) {
          const [who, err] = yield* luanet.RPCCall("Fine", "Who", null, { timeout: 3000 });
          if (err === null && who === "real") ok++; else bad++;
          if (ok === 1) console.log("first answer");
          for (const name of ["NotJson", "WrongTypes", "Big"]) {
            const [, e] = yield* luanet.RPCCall(name, "Who", null, { timeout: 3000 });
            if (e?.code !== "unavailable") bad++;
          }
          const [providers, perr] = yield* luanet.GetRemoteFuncProvider("Who");
          if (providers?.join() !== "Fine") { bad++; console.log("providers", providers, perr?.message); }
          yield* Sche.Sleep(50);
        }
        console.log(JSON.stringify({ ok, bad }));
        luanet.Exit(0);
      }
    `, { env });
    await client.waitFor(/^first answer$/m, 20_000);
    for (const [key, value] of bad) await etcd.put(`${prefix}/${key}`, value);
    const ls = await etcdTool(registry, ["ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0]), ["Fine"]);
    const unknown = await etcdTool(registry, ["call", "NotJson", "Who"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unavailable/);

    const exit = await client.exited(30_000);
    assert.equal(exit.code, 0, exit.stderr);
    const { ok, bad: wrong } = lastJson<{ ok: number; bad: number }>(exit.stdout);
    assert.equal(wrong, 0, exit.stdout);
    assert.ok(ok > 10, `${ok} good calls`);
    for (const name of ["NotJson", "WrongTypes", "Big"]) {
      const lines = exit.stderr.split("\n").filter((l) => l.includes(`ignoring the etcd key for "${name}"`));
      assert.ok(lines.length <= 1, `the bad value of ${name} was logged once at most:\n${lines.join("\n")}`);
    }
    assert.match(exit.stderr, /ignoring the etcd key for "WrongTypes": its value is not a luanet registration \(pid must be a non-negative integer\)/);
    assert.equal(real.child.exitCode, null, "the holder is running");
  });
});
