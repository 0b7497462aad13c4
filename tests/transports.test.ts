/**
 * Transports (issue 4): UDP, UNIX stream sockets and IPv6, observed from outside with real
 * processes. Every port is picked by the OS (port 0) and every UNIX socket lives in a fresh temp
 * folder, so the tests run in parallel; every process is killed by PID when the file ends.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, lstatSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { lastJson, launch, runClient, startNameService, startService, tool, type NameService, type Service } from "./helpers/cluster.ts";
import { root, startLuanet, tempDir, runScript, type Running } from "./helpers/proc.ts";

/** The lines of a process's stderr that are warnings or errors (INFO lines are expected). */
const complaints = (stderr: string) => stderr.split("\n").filter((l) => l.trim() !== "" && !/^\[[^\]]+\] INFO /.test(l));

/** A UNIX socket path in a fresh temp folder (well under the 107-byte limit). */
function sockPath(file: string): string {
  const path = join(tempDir(), file);
  assert.ok(Buffer.byteLength(path) < 107, `socket path too long: ${path}`);
  return path;
}

/** `luanet ls` rows by service name. */
async function ls(ns: NameService | string): Promise<Map<string, { address: string; transport: string; funcs: string[]; pid: number }>> {
  const r = await tool(ns, ["ls"]);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...lines] = r.stdout.trim().split("\n");
  assert.deepEqual(header!.split(/\s+/), ["NAME", "ADDRESS", "TRANSPORT", "FUNCTIONS", "PID", "UPTIME"]);
  return new Map(lines.map((line) => {
    const [name, address, transport, funcs, pid] = line.split(/\s+/);
    return [name!, { address: address!, transport: transport!, funcs: funcs!.split(","), pid: Number(pid) }];
  }));
}

/** The address a service logged it listens on ("127.0.0.1:40000", "[::1]:40000", "unix:/x"). */
async function listenAddr(svc: Running, name: string): Promise<string> {
  return (await svc.waitFor(new RegExp(`${name} listening on (\\S+)\\n`), 1000, "stderr"))[1]!;
}

/**
 * A plain script (no service of its own) that makes the given calls at once and prints
 * [{ ret, code, message }] as JSON.
 */
async function callAll(ns: NameService | string, calls: [service: string, func: string, args?: unknown][]): Promise<{ ret: any; code: string | null; message: string | null }[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await runClient(ns, `
    export default function* () {
      const calls: [string, string, unknown][] = ${JSON.stringify(calls)};
      const tasks = calls.map(([s, f, a]) => Sche.Spawn(function* () {
        const [ret, err] = yield* luanet.RPCCall(s, f, a ?? null, { timeout: 8000 });
        return { ret, code: err?.code ?? null, message: err?.message ?? null };
      }));
      const out = [];
      for (const t of tasks) out.push(yield* t);
      console.log(JSON.stringify(out));
      luanet.Exit(0);
    }
  `, { name: "call-all.ts" });
  assert.equal(r.code, 0, r.stderr);
  return lastJson(r.stdout);
}

// ---- which sockets a process holds, from `ss` ----

interface Sock { netid: string; state: string; local: string; localIno: string; peer: string; peerIno: string; pids: number[] }

function sockets(): Sock[] {
  // Every socket on the machine, with its processes: far more than execFileSync's 1 MiB default
  // where other programs hold thousands of UNIX sockets (that failed with ENOBUFS).
  const out = execFileSync("ss", ["-H", "-a", "-n", "-p", "-t", "-u", "-x"], { encoding: "utf8", timeout: 10_000, maxBuffer: 256 * 1024 * 1024 });
  return out.split("\n").filter((l) => l.trim() !== "").map((line) => {
    const f = line.trim().split(/\s+/);
    const unix = f[0]!.startsWith("u_");
    const rest = f.slice(unix ? 8 : 6).join(" ");
    const pids = [...rest.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    return unix
      ? { netid: f[0]!, state: f[1]!, local: f[4]!, localIno: f[5]!, peer: f[6]!, peerIno: f[7]!, pids }
      : { netid: f[0]!, state: f[1]!, local: f[4]!, localIno: "", peer: f[5]!, peerIno: "", pids };
  });
}

/** Why the socket-level checks cannot run here (a skipped subtest says so), or false. */
const ssMissing = spawnSync("ss", ["-V"], { stdio: "ignore", timeout: 10_000 }).status === 0 ? false
  : "the ss command (iproute2) is not installed: apt-get install -y iproute2";

/** Why the [::1] cases cannot run here (no IPv6 on loopback), or false: TCP and UDP are each tried. */
const ipv6Missing: string | false = await (async () => {
  try {
    await new Promise<void>((resolve, reject) => {
      const server = createServer().once("error", reject);
      server.listen(0, "::1", () => server.close(() => resolve()));
    });
    await new Promise<void>((resolve, reject) => {
      const socket = createSocket("udp6").once("error", reject);
      socket.bind(0, "::1", () => socket.close(() => resolve()));
    });
    return false;
  } catch (error) {
    return `no IPv6 on loopback here: cannot bind [::1] (${(error as Error).message})`;
  }
})();

/**
 * Whether process `pid` holds a connected link of `kind` to the listener at `addr`
 * ("127.0.0.1:port" for tcp/udp, "unix:/path" for unix).
 */
function hasLinkTo(all: Sock[], pid: number, kind: "tcp" | "udp" | "unix", addr: string): boolean {
  if (kind !== "unix") return all.some((s) => s.netid === kind && s.state === "ESTAB" && s.pids.includes(pid) && s.peer === addr);
  // A UNIX client socket shows no path: match its inode to the peer of a socket the listener accepted.
  const path = addr.slice("unix:".length);
  const accepted = new Set(all.filter((s) => s.netid === "u_str" && s.state === "ESTAB" && s.local === path).map((s) => s.peerIno));
  return all.some((s) => s.netid === "u_str" && s.state === "ESTAB" && s.pids.includes(pid) && accepted.has(s.localIno));
}

// ---- scripts ----

/** The Plus sample's client: `tasks` x `per` calls with distinct arguments, from a service of its own. */
const plusClient = (type: "SOCK_STREAM" | "SOCK_DGRAM", addr: string, tasks = 10, per = 20) => `
luanet.StartLocalService("PlusClient", ${type}, net.parseAddr(${JSON.stringify(addr)}));
export default function* () {
  yield* luanet.Register2Name(NS);
  let ok = 0;
  const wrong: unknown[] = [];
  const workers = [];
  for (let t = 0; t < ${tasks}; t++) {
    workers.push(Sche.Spawn(function* () {
      for (let i = 0; i < ${per}; i++) {
        const a = t * 1000 + i, b = i * 7 - t;
        const [sum, err] = yield* luanet.RPCCall<number>("PlusServer", "Plus", { a, b }, { timeout: 8000 });
        if (err === null && sum === a + b) ok++;
        else wrong.push({ a, b, sum, code: err?.code, message: err?.message });
      }
    }));
  }
  for (const w of workers) yield* w;
  console.log(JSON.stringify({ ok, wrong: wrong.slice(0, 5), wrongCount: wrong.length }));
  luanet.Exit(0);
}
`;

/**
 * One service of the mixed cluster, set by env: SVC_NAME, SVC_TYPE (stream|dgram), SVC_ADDR,
 * SVC_OTHERS (the other two names). Who: its name. Relay({ to }): calls to.Who itself.
 * Tour: Who and Relay on each of the others. Send({ to, msg }): a one-way message. Messages
 * received are printed as "msg <json {from, msg}>".
 */
const meshService = `
const me = process.env.SVC_NAME!;
const others = process.env.SVC_OTHERS!.split(",");
luanet.RegRPCFunction("Who", () => me);
luanet.RegRPCFunction("Relay", function* ({ to }: { to: string }) {
  const [who, err] = yield* luanet.RPCCall<string>(to, "Who", null, { timeout: 5000 });
  if (err !== null) throw new Error(me + " -> " + to + ": " + err.code + ": " + err.message);
  return me + ">" + who;
});
luanet.RegRPCFunction("Tour", function* () {
  const out: Record<string, unknown> = {};
  for (const o of others) {
    const third = others.find((x) => x !== o)!;
    const [who, e1] = yield* luanet.RPCCall(o, "Who", null, { timeout: 5000 });
    const [relay, e2] = yield* luanet.RPCCall(o, "Relay", { to: third }, { timeout: 5000 });
    out[o] = { who, relay, errors: [e1?.message ?? null, e2?.message ?? null] };
  }
  return out;
});
luanet.RegRPCFunction("Send", function* ({ to, msg }: { to: string; msg: unknown }) {
  const err = yield* luanet.SendMsg(to, msg);
  return err === null ? null : err.code + ": " + err.message;
});
Sche.Spawn(function* () {
  for (;;) {
    const m = yield* luanet.GetMsg();
    console.log("msg " + JSON.stringify({ from: m.from, msg: m.msg }));
  }
});
luanet.StartLocalService(me, process.env.SVC_TYPE === "dgram" ? SOCK_DGRAM : SOCK_STREAM, net.parseAddr(process.env.SVC_ADDR!));
luanet.Register2Name(NS);
`;

/** A UDP service counting how often each call id runs: Bump({ id }) and (slowly) SlowBump({ id }). */
const countingServer = (name: string) => `
let runs = 0;
const seen = new Map<number, number>();
function bump(id: number) {
  runs++;
  seen.set(id, (seen.get(id) ?? 0) + 1);
  return id * 3 + 1;
}
luanet.RegRPCFunction("Bump", ({ id }: { id: number }) => bump(id));
luanet.RegRPCFunction("SlowBump", function* ({ id }: { id: number }) {
  yield* Sche.Sleep(250); // longer than the 100 ms resend interval
  return bump(id);
});
luanet.RegRPCFunction("Stats", () => ({ runs, distinct: seen.size, repeated: [...seen].filter(([, n]) => n > 1).map(([id]) => id) }));
luanet.StartLocalService(${JSON.stringify(name)}, SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
`;

/** A UDP service calling `target`.`func`({ id }) from `tasks` tasks x `per` calls; prints a JSON summary. */
const countingCaller = (name: string, target: string, func: string, tasks: number, per: number) => `
luanet.StartLocalService(${JSON.stringify(name)}, SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
export default function* () {
  yield* luanet.Register2Name(NS);
  let good = 0, slow = 0, maxMs = 0;
  const wrong: unknown[] = [];
  const t0 = performance.now();
  const workers = [];
  for (let t = 0; t < ${tasks}; t++) {
    workers.push(Sche.Spawn(function* () {
      for (let i = 0; i < ${per}; i++) {
        const id = t * ${per} + i;
        const s = performance.now();
        const [ret, err] = yield* luanet.RPCCall<number>(${JSON.stringify(target)}, ${JSON.stringify(func)}, { id }, { timeout: 8000 });
        const ms = performance.now() - s;
        maxMs = Math.max(maxMs, ms);
        if (ms >= 95) slow++;
        if (err === null && ret === id * 3 + 1) good++;
        else wrong.push({ id, ret, code: err?.code, message: err?.message });
      }
    }));
  }
  for (const w of workers) yield* w;
  const totalMs = performance.now() - t0;
  const [stats, serr] = yield* luanet.RPCCall(${JSON.stringify(target)}, "Stats", null, { timeout: 8000 });
  console.log(JSON.stringify({ good, wrong: wrong.slice(0, 5), wrongCount: wrong.length, slow, maxMs, totalMs, stats, statsErr: serr?.message ?? null }));
  luanet.Exit(0);
}
`;

describe("transports", { concurrency: true }, () => {
  describe("the Plus sample over each transport: 200 calls from 10 tasks, all correct; ls shows the transport", { concurrency: true }, () => {
    const cases = [
      { label: "UDP", type: "dgram", server: "127.0.0.1:0", client: () => "127.0.0.1:0", transport: "udp", address: /^127\.0\.0\.1:\d+$/ },
      { label: "a UNIX socket", type: "stream", server: "unix:", client: () => `unix:${sockPath("client.sock")}`, transport: "unix", address: /^unix:\/.*\/plus\.sock$/ },
      { label: "TCP on [::1]", type: "stream", server: "[::1]:0", client: () => "[::1]:0", transport: "tcp6", address: /^\[::1\]:\d+$/, skip: ipv6Missing },
      { label: "UDP on [::1]", type: "dgram", server: "[::1]:0", client: () => "[::1]:0", transport: "udp6", address: /^\[::1\]:\d+$/, skip: ipv6Missing },
    ] as const;
    for (const c of cases) {
      test(`over ${c.label} (${c.transport})`, { timeout: 30_000, skip: "skip" in c ? c.skip : false }, async () => {
        const ns = await startNameService();
        const serverAddr = c.server === "unix:" ? `unix:${sockPath("plus.sock")}` : c.server;
        const server = startLuanet([join(root, "samples/plus/server.ts")], {
          env: { LUANET_NS: ns.addr, PLUS_TYPE: c.type, PLUS_ADDR: serverAddr },
        });
        await server.waitFor(/PlusServer registered with the name service at /, 10_000, "stderr");
        const bound = await listenAddr(server, "PlusServer");
        assert.match(bound, c.address);
        if (c.server === "unix:") assert.equal(bound, serverAddr);

        const [rows, client, cli] = await Promise.all([
          ls(ns),
          runClient(ns, plusClient(c.type === "dgram" ? "SOCK_DGRAM" : "SOCK_STREAM", c.client()), { name: "plus-client.ts", timeoutMs: 20_000 }),
          tool(ns, ["call", "PlusServer", "Plus", '{"a":40,"b":2}']), // a tool: no service, replies on the link it opened
        ]);
        const row = rows.get("PlusServer");
        assert.ok(row, `PlusServer in luanet ls: ${JSON.stringify([...rows])}`);
        assert.equal(row.transport, c.transport);
        assert.equal(row.address, bound);
        assert.deepEqual(row.funcs, ["Plus"]);
        assert.equal(row.pid, server.child.pid);

        assert.equal(client.code, 0, client.stderr);
        const out = lastJson(client.stdout);
        assert.deepEqual(out.wrong, []);
        assert.equal(out.ok, 200);
        assert.deepEqual(complaints(client.stderr), []);

        assert.equal(cli.code, 0, cli.stderr);
        assert.equal(JSON.parse(cli.stdout), 42);
        assert.deepEqual(complaints(server.stderr), []);
      });
    }
  });

  describe("on one name service", { concurrency: true }, () => {
    let ns: NameService;
    before(async () => {
      ns = await startNameService();
    });

    test("a mixed cluster (TCP, UDP, UNIX): every service calls the other two, replies come back on the call's own link, messages cross", { timeout: 30_000 }, async (t) => {
      const names = { tcp: "MeshTcp", udp: "MeshUdp", unix: "MeshUnix" } as const;
      const all = Object.values(names);
      const others = (me: string) => all.filter((n) => n !== me).join(",");
      const unixPath = sockPath("mesh.sock");
      const start = (name: string, type: string, addr: string) =>
        startService(ns, meshService, { name: "mesh.ts", env: { SVC_NAME: name, SVC_TYPE: type, SVC_ADDR: addr, SVC_OTHERS: others(name) } });
      const [tcp, udp, unix] = await Promise.all([
        start(names.tcp, "stream", "127.0.0.1:0"),
        start(names.udp, "dgram", "127.0.0.1:0"),
        start(names.unix, "stream", `unix:${unixPath}`),
      ]);
      const addr = {
        tcp: await listenAddr(tcp, names.tcp),
        udp: await listenAddr(udp, names.udp),
        unix: await listenAddr(unix, names.unix),
      };
      assert.equal(addr.unix, `unix:${unixPath}`);

      const rows = await ls(ns);
      for (const kind of ["tcp", "udp", "unix"] as const) {
        assert.equal(rows.get(names[kind])?.transport, kind, `${names[kind]} in luanet ls`);
        assert.equal(rows.get(names[kind])?.address, addr[kind]);
      }

      // Round one goes one way round the ring only: tcp -> udp -> unix -> tcp. Any link the other
      // way round can only have been opened to carry a reply.
      const ring = await callAll(ns, [
        [names.tcp, "Relay", { to: names.udp }],
        [names.udp, "Relay", { to: names.unix }],
        [names.unix, "Relay", { to: names.tcp }],
      ]);
      assert.deepEqual(ring.map((r) => r.code), [null, null, null], JSON.stringify(ring));
      assert.deepEqual(ring.map((r) => r.ret), ["MeshTcp>MeshUdp", "MeshUdp>MeshUnix", "MeshUnix>MeshTcp"]);
      await t.test("ss shows a link from each caller to the service it called, and none the other way round", { skip: ssMissing }, () => {
        const socks = sockets();
        const pid = { tcp: tcp.child.pid!, udp: udp.child.pid!, unix: unix.child.pid! };
        const expect = (from: keyof typeof pid, to: keyof typeof pid, why: string) =>
          assert.ok(hasLinkTo(socks, pid[from], to, addr[to]), `${names[from]} (pid ${pid[from]}) should hold a ${to} link to ${names[to]} at ${addr[to]} (${why})`);
        expect("tcp", "udp", "its call");
        expect("udp", "unix", "its call");
        expect("unix", "tcp", "its call");
        // Replies travel back on the link the call went out on: nobody dialed the other way round.
        const none = (from: keyof typeof pid, to: keyof typeof pid) =>
          assert.equal(hasLinkTo(socks, pid[from], to, addr[to]), false, `${names[from]} dialed ${names[to]}, which it never called`);
        none("udp", "tcp");
        none("unix", "udp");
        none("tcp", "unix");
        // The matcher is not vacuous: the name service dials no service.
        for (const kind of ["tcp", "udp", "unix"] as const) assert.equal(hasLinkTo(socks, ns.proc.child.pid!, kind, addr[kind]), false);
      });

      // Round two: every service calls Who and Relay on both others.
      const tours = await callAll(ns, all.map((n) => [n, "Tour"] as [string, string]));
      for (const [i, me] of all.entries()) {
        assert.equal(tours[i]!.code, null, JSON.stringify(tours[i]));
        const expected: Record<string, unknown> = {};
        for (const o of all.filter((n) => n !== me)) {
          const third = all.find((n) => n !== me && n !== o)!;
          expected[o] = { who: o, relay: `${o}>${third}`, errors: [null, null] };
        }
        assert.deepEqual(tours[i]!.ret, expected, `${me}'s tour`);
      }

      // One-way messages across transports: UDP -> UNIX (the required one), UNIX -> TCP, TCP -> UDP.
      const sends = await callAll(ns, [
        [names.udp, "Send", { to: names.unix, msg: { n: 1, text: "udp to unix" } }],
        [names.unix, "Send", { to: names.tcp, msg: { n: 2, text: "unix to tcp" } }],
        [names.tcp, "Send", { to: names.udp, msg: { n: 3, text: "tcp to udp" } }],
      ]);
      assert.deepEqual(sends.map((s) => [s.code, s.ret]), [[null, null], [null, null], [null, null]], JSON.stringify(sends));
      await unix.waitFor(/^msg \{"from":"MeshUdp","msg":\{"n":1,"text":"udp to unix"\}\}$/m, 5000);
      await tcp.waitFor(/^msg \{"from":"MeshUnix","msg":\{"n":2,"text":"unix to tcp"\}\}$/m, 5000);
      await udp.waitFor(/^msg \{"from":"MeshTcp","msg":\{"n":3,"text":"tcp to udp"\}\}$/m, 5000);

      for (const svc of [tcp, udp, unix]) assert.deepEqual(complaints(svc.stderr), [], svc.stderr);
    });

    test("a stale UNIX socket file from a killed process is replaced; a live one is not; a graceful exit removes it", { timeout: 30_000 }, async () => {
      const path = sockPath("phoenix.sock");
      const source = `
        luanet.RegRPCFunction("Pid", () => process.pid);
        luanet.StartLocalService(process.env.SVC_NAME!, SOCK_STREAM, net.netaddr_local(${JSON.stringify(path)}));
        luanet.Register2Name(NS);
      `;
      const first = await startService(ns, source, { name: "phoenix.ts", env: { SVC_NAME: "Phoenix" } });
      first.child.kill("SIGKILL");
      assert.equal((await first.exited(5000)).signal, "SIGKILL");
      assert.ok(existsSync(path) && lstatSync(path).isSocket(), "the killed process left its socket file behind");

      const second = await startService(ns, source, { name: "phoenix.ts", env: { SVC_NAME: "Phoenix" } });
      const [call, rows] = await Promise.all([tool(ns, ["call", "Phoenix", "Pid"]), ls(ns)]);
      assert.equal(call.code, 0, call.stderr);
      assert.equal(JSON.parse(call.stdout), second.child.pid, "the new process answers on the old path");
      assert.equal(rows.get("Phoenix")?.transport, "unix");
      assert.equal(rows.get("Phoenix")?.address, `unix:${path}`);
      assert.equal(rows.get("Phoenix")?.pid, second.child.pid);

      // A second process on the path of a live service: refused, exit 1; the live one is untouched.
      const intruder = await launch(ns, source, { name: "intruder.ts", env: { SVC_NAME: "PhoenixIntruder" } }).exited(10_000);
      assert.equal(intruder.code, 1, intruder.stderr);
      assert.match(intruder.stderr, new RegExp(`PhoenixIntruder cannot listen on unix:${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      assert.match(intruder.stderr, /address[ _](is |already )?in[ _]use|EADDRINUSE|another process is listening/i);
      const again = await tool(ns, ["call", "Phoenix", "Pid"]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout), second.child.pid, "the live service still answers");
      assert.ok(existsSync(path), "the live service's socket file is still there");

      // A graceful stop removes the file.
      second.child.kill("SIGTERM");
      const exit = await second.exited(10_000);
      assert.equal(exit.code, 143, exit.stderr);
      assert.equal(existsSync(path), false, "the socket file is gone after SIGTERM");
      assert.deepEqual(complaints(second.stderr), [], "the intruder's probe made the live service complain");
    });

    test("too_large over UDP: a call, a message and a result that do not fit one datagram; the caller keeps working", { timeout: 30_000 }, async () => {
      await startService(ns, `
        luanet.RegRPCFunction("Echo", (x: unknown) => x);
        luanet.RegRPCFunction("Repeat", ({ n }: { n: number }) => "r".repeat(n));
        Sche.Spawn(function* () {
          for (;;) {
            const m = yield* luanet.GetMsg<{ size: number }>();
            console.log("msg " + JSON.stringify(m.msg).length);
          }
        });
        luanet.StartLocalService("Jumbo", SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
        luanet.Register2Name(NS);
      `, { name: "jumbo.ts" });
      const r = await runClient(ns, `
        export default function* () {
          const o = { timeout: 3000 };
          const [big, bigErr] = yield* luanet.RPCCall("Jumbo", "Echo", "x".repeat(100_000), o);
          const msgErr = yield* luanet.SendMsg("Jumbo", { big: "y".repeat(100_000) });
          const [result, resultErr] = yield* luanet.RPCCall("Jumbo", "Repeat", { n: 100_000 }, o);
          const [fits, fitsErr] = yield* luanet.RPCCall<string>("Jumbo", "Echo", "f".repeat(60_000), o);
          const [small, smallErr] = yield* luanet.RPCCall("Jumbo", "Echo", "small", o);
          const e = (x: { code: string; message: string } | null) => x && { code: x.code, message: x.message };
          console.log(JSON.stringify({ big, bigErr: e(bigErr), msgErr: e(msgErr), result, resultErr: e(resultErr), fits: fits?.length ?? null, fitsErr: e(fitsErr), small, smallErr: e(smallErr) }));
          luanet.Exit(0);
        }
      `, { name: "jumbo-client.ts" });
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.big, null);
      assert.equal(out.bigErr?.code, "too_large", JSON.stringify(out.bigErr));
      assert.match(out.bigErr.message, /Jumbo\.Echo/);
      assert.match(out.bigErr.message, /over the (\d+) bytes that fit in one UDP datagram/, "the message states the limit");
      const limit = Number(/over the (\d+) bytes/.exec(out.bigErr.message)![1]);
      assert.ok(limit > 60_000 && limit <= 65_507, `limit ${limit}`);
      assert.equal(out.msgErr?.code, "too_large", "SendMsg checks the size too");
      assert.match(out.msgErr.message, /UDP datagram/);
      assert.equal(out.result, null);
      assert.equal(out.resultErr?.code, "too_large", `a result over a datagram: ${JSON.stringify(out.resultErr)}`);
      assert.equal(out.fitsErr, null, "a 60 KB call fits one datagram");
      assert.equal(out.fits, 60_000);
      assert.equal(out.smallErr, null);
      assert.equal(out.small, "small");
    });

    test("a UDP service calling a TCP service gets a 100 KB result: the reply travels back on the caller's TCP link", { timeout: 30_000 }, async () => {
      await startService(ns, `
        luanet.RegRPCFunction("Repeat", ({ n }: { n: number }) => "r".repeat(n));
        luanet.StartLocalService("BigTcp", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        luanet.Register2Name(NS);
      `, { name: "big-tcp.ts" });
      const r = await runClient(ns, `
        luanet.StartLocalService("UdpAsker", SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
        export default function* () {
          yield* luanet.Register2Name(NS);
          const [ret, err] = yield* luanet.RPCCall<string>("BigTcp", "Repeat", { n: 100_000 }, { timeout: 3000 });
          console.log(JSON.stringify({ ret: ret?.length ?? null, code: err?.code ?? null, message: err?.message ?? null }));
          luanet.Exit(0);
        }
      `, { name: "udp-asker.ts" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastJson(r.stdout), { ret: 100_000, code: null, message: null });
    });

    test("too_large over UDP: a TCP service calling a UDP service for a result too big for a datagram; the caller keeps working", { timeout: 30_000 }, async () => {
      await startService(ns, `
        luanet.RegRPCFunction("Repeat", ({ n }: { n: number }) => "r".repeat(n));
        luanet.StartLocalService("BigUdp", SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));
        luanet.Register2Name(NS);
      `, { name: "big-udp.ts" });
      // The reply travels back in a datagram on the caller's UDP link, whatever the caller listens on.
      const r = await runClient(ns, `
        luanet.StartLocalService("TcpAsker", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        export default function* () {
          yield* luanet.Register2Name(NS);
          const t0 = performance.now();
          const [ret, err] = yield* luanet.RPCCall<string>("BigUdp", "Repeat", { n: 100_000 }, { timeout: 3000 });
          const ms = performance.now() - t0;
          const [ok, okErr] = yield* luanet.RPCCall<string>("BigUdp", "Repeat", { n: 10 }, { timeout: 3000 });
          console.log(JSON.stringify({ ret: ret?.length ?? null, code: err?.code ?? null, message: err?.message ?? null, ms, ok, okErr: okErr?.message ?? null }));
          luanet.Exit(0);
        }
      `, { name: "tcp-asker.ts" });
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.ret, null);
      assert.equal(out.code, "too_large", `expected too_large, got ${out.code} after ${Math.round(out.ms)} ms: ${out.message}`);
      assert.ok(out.ms < 2000, `too_large should not wait for the deadline (took ${out.ms} ms)`);
      assert.equal(out.okErr, null);
      assert.equal(out.ok, "rrrrrrrrrr", "the caller keeps working");
    });

    test("RPC over UDP with every 3rd datagram dropped both ways: 200 calls from 10 tasks, each runs exactly once", { timeout: 30_000 }, async (t) => {
      const lossy = { LUANET_UDP_DROP: "3" };
      await startService(ns, countingServer("LossyServer"), { name: "lossy-server.ts", env: lossy });
      const r = await runClient(ns, countingCaller("LossyCaller", "LossyServer", "Bump", 10, 20), { name: "lossy-caller.ts", env: lossy, timeoutMs: 25_000 });
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.deepEqual(out.wrong, [], "every call returns its own right result");
      assert.equal(out.good, 200);
      assert.equal(out.statsErr, null);
      assert.deepEqual(out.stats, { runs: 200, distinct: 200, repeated: [] }, "the handler ran once per call: resent calls were answered from the reply cache");
      assert.ok(out.slow > 0, "some calls waited for a resend, so datagrams were really dropped");
      t.diagnostic(`${out.slow} of 200 calls took 95 ms or more (a resend); the slowest ${Math.round(out.maxMs)} ms; all ${Math.round(out.totalMs)} ms`);
    });

    test("RPC over UDP without loss, to a handler slower than the resend interval: each call runs exactly once", { timeout: 30_000 }, async () => {
      await startService(ns, countingServer("SlowUdpServer"), { name: "slow-server.ts", env: { LUANET_UDP_DROP: "" } });
      const r = await runClient(ns, countingCaller("SlowUdpCaller", "SlowUdpServer", "SlowBump", 10, 4), { name: "slow-caller.ts", env: { LUANET_UDP_DROP: "" }, timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.deepEqual(out.wrong, []);
      assert.equal(out.good, 40);
      assert.deepEqual(out.stats, { runs: 40, distinct: 40, repeated: [] }, "repeats that come while the handler runs are ignored");
    });
  });

  test("the name service on a UNIX socket: services register, luanet ls and luanet call use it", { timeout: 30_000 }, async () => {
    const nsPath = sockPath("ns.sock");
    const ns = await startNameService({ listen: `unix:${nsPath}` });
    assert.equal(ns.addr, `unix:${nsPath}`);
    const svcPath = sockPath("svc.sock");
    const [tcpSvc, unixSvc] = await Promise.all([
      startService(ns, `
        luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
        luanet.StartLocalService("NsUnixTcp", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        luanet.Register2Name(NS);
      `, { name: "ns-unix-tcp.ts" }),
      startService(ns, `
        luanet.RegRPCFunction("PlusVia", function* (args: { a: number; b: number }) {
          const [sum, err] = yield* luanet.RPCCall<number>("NsUnixTcp", "Plus", args, { timeout: 5000 });
          if (err !== null) throw err;
          return sum;
        });
        luanet.StartLocalService("NsUnixUnix", SOCK_STREAM, net.netaddr_local(${JSON.stringify(svcPath)}));
        luanet.Register2Name(NS);
      `, { name: "ns-unix-unix.ts" }),
    ]);
    assert.match(tcpSvc.stderr, new RegExp(`registered with the name service at unix:${nsPath}`));
    const [rows, direct, via] = await Promise.all([
      ls(ns),
      tool(ns, ["call", "NsUnixTcp", "Plus", '{"a":2,"b":3}']),
      tool(ns, ["call", "NsUnixUnix", "PlusVia", '{"a":30,"b":12}']),
    ]);
    assert.equal(rows.get("NsUnixTcp")?.transport, "tcp");
    assert.equal(rows.get("NsUnixTcp")?.pid, tcpSvc.child.pid);
    assert.equal(rows.get("NsUnixUnix")?.transport, "unix");
    assert.equal(rows.get("NsUnixUnix")?.address, `unix:${svcPath}`);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(JSON.parse(direct.stdout), 5);
    assert.equal(via.code, 0, via.stderr);
    assert.equal(JSON.parse(via.stdout), 42, "a service looks another up through the UNIX-socket name service");

    // Its socket file goes away when it stops gracefully.
    ns.proc.child.kill("SIGTERM");
    await ns.proc.exited(10_000);
    assert.equal(existsSync(nsPath), false, "the name service's socket file is removed on SIGTERM");
    for (const svc of [tcpSvc, unixSvc] as Service[]) svc.child.kill("SIGKILL");
  });

  test("SOCK_DGRAM with netaddr_local: a TypeError saying Node.js has no UNIX datagram sockets, exit 1", { timeout: 20_000 }, async () => {
    const path = sockPath("dgram.sock");
    const r = await runScript(`
      import type {} from "luanet/globals";
      import * as net from "luanet/net";
      luanet.StartLocalService("NoUnixDgram", SOCK_DGRAM, net.netaddr_local(${JSON.stringify(path)}));
      console.log("not reached");
    `, { name: "unix-dgram.ts" });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /TypeError: luanet\.StartLocalService\(.*\): Node\.js has no UNIX datagram sockets/);
    assert.match(r.stderr, /unix-dgram\.ts:\d+/, "the stack points at the script");
    assert.doesNotMatch(r.stdout, /not reached/);
    assert.equal(existsSync(path), false, "no socket file was created");
  });
});

test("byte strings a dialed TCP link receives stay intact while later frames arrive (the link reads every frame into one reused buffer)", { timeout: 30_000 }, async () => {
  const ns = await startNameService();
  await startService(ns, `
    luanet.RegRPCFunction("Fill", ({ n }: { n: number }) => new Uint8Array(200).fill(n));
    luanet.StartLocalService("Bytes", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { name: "bytes.ts" });
  const exit = await runClient(ns, `
    export default function* () {
      const kept: Uint8Array[] = [];
      for (let i = 0; i < 200; i++) {
        const [bytes, err] = yield* luanet.RPCCall<Uint8Array>("Bytes", "Fill", { n: i });
        if (err !== null) throw err;
        kept.push(bytes);
      }
      const bad = kept.filter((b, i) => !(b instanceof Uint8Array) || b.length !== 200 || b.some((x) => x !== i)).length;
      console.log(JSON.stringify({ bad, count: kept.length }));
      luanet.Exit(0);
    }
  `, { name: "keeper.ts" });
  assert.deepEqual(lastJson(exit.stdout), { bad: 0, count: 200 }, exit.stderr);
});
