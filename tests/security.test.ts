/**
 * Cluster authentication and TLS, observed from outside: real name services, services, clients
 * and CLI tools in child processes on 127.0.0.1, with a secret file (mode 600) or certificates
 * made with openssl. Intruders (no secret, a wrong secret, a rogue CA, no TLS, a replay of
 * recorded bytes or datagrams) must be refused, logged with their address, and no handler may
 * run for them: every handler prints a line naming the caller's tag, and the tests count them.
 *
 * To reach a service directly, past the name service that would refuse them first, intruders
 * use a decoy name service: a script of the test's own that answers every lookup with the
 * address it was given (the service's, or a recording proxy's in the test process).
 * The last test checks the one warning for a listener beyond loopback with no secret and no TLS.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { describe, test } from "node:test";
import { decode } from "../runtime/wire/envelope.ts";
import { FrameDecoder } from "../runtime/wire/frame.ts";
import { unbatch } from "../runtime/transport/udp-batch.ts";
import { haveOpenssl, makeCA, type TlsEnv } from "./helpers/certs.ts";
import { lastJson, launch, poll, startNameService, startService, type NameService } from "./helpers/cluster.ts";
import { runLuanet, tempDir, type Exit, type Running } from "./helpers/proc.ts";

// --- secrets and environments ------------------------------------------------------------------

const secrets = tempDir();
function secretFile(name: string, content: string, mode = 0o600): string {
  const path = join(secrets, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}
const goodHex = randomBytes(32).toString("hex");
/** As `openssl rand -hex 32 > secret` writes it: with a newline, which luanet ignores. */
const GOOD = { LUANET_SECRET_FILE: secretFile("good", goodHex + "\n") };
const WRONG = { LUANET_SECRET_FILE: secretFile("wrong", randomBytes(32).toString("hex") + "\n") };
/** Nothing set, whatever the environment running the tests holds. */
const NONE = { LUANET_SECRET_FILE: "", LUANET_SECRET: "", LUANET_TLS_CERT: "", LUANET_TLS_KEY: "", LUANET_TLS_CA: "" };

// --- scripts -----------------------------------------------------------------------------------

/** PlusServer (TCP, or UDP with the argument "udp"): each call and message prints its tag. */
const server = `
luanet.RegRPCFunction("Plus", ({ a, b, tag }: { a: number; b: number; tag: string }) => {
  console.log("handler ran: " + tag);
  return a + b;
});
Sche.Spawn(function* () {
  for (;;) {
    const { msg } = yield* luanet.GetMsg();
    console.log("message: " + (msg as { tag: string }).tag);
  }
});
luanet.StartLocalService("PlusServer", luanet.args[0] === "udp" ? SOCK_DGRAM : SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
`;

/** Calls PlusServer.Plus n times and sends it one message, all tagged; prints the outcomes. */
const client = `
export default function* (tag: string, n: string) {
  const results: unknown[] = [];
  for (let i = 0; i < Number(n); i++) {
    const [sum, err] = yield* luanet.RPCCall("PlusServer", "Plus", { a: i, b: 1, tag }, { timeout: 5000 });
    results.push(err === null ? sum : err.code + ": " + err.message);
  }
  const err = yield* luanet.SendMsg("PlusServer", { tag });
  console.log(JSON.stringify({ results, send: err === null ? null : err.code + ": " + err.message }));
  luanet.Exit(0); // flushes the message: process.exit could drop it
}
`;

/** A name service of the test's own: every lookup is answered with the address it was given. */
const decoy = `
const [target, type] = luanet.args as [string, "stream" | "dgram"];
luanet.RegRPCFunction("GetInfo", ({ name }: { name: string }) =>
  ({ name, type, addr: net.parseAddr(target), pid: 0, host: "decoy", funcs: ["Plus"], started: Date.now(), instance: "decoy" }));
luanet.StartLocalService("nameservice", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
`;

// --- helpers -----------------------------------------------------------------------------------

interface Outcome {
  results: (number | string)[];
  send: string | null;
}

/** Where `proc` listens as `name`: "127.0.0.1:<port>". */
function listening(proc: Running, name: string): string {
  const m = new RegExp(`${name} listening on (127\\.0\\.0\\.1:\\d+)`).exec(proc.stderr);
  assert.ok(m, `${name} logged where it listens:\n${proc.stderr}`);
  return m[1]!;
}

/** Start a decoy name service that sends every lookup to `target`. */
async function startDecoy(target: string, type: "stream" | "dgram", env: NodeJS.ProcessEnv): Promise<string> {
  const proc = launch("127.0.0.1:1", decoy, { name: "decoy.ts", args: [target, type], env });
  return (await proc.waitFor(/nameservice listening on (\S+)/, 10_000, "stderr"))[1]!;
}

/** Run the client script against name service `ns`: its outcomes. */
async function runCalls(ns: NameService | string, env: NodeJS.ProcessEnv, tag: string, n = 1): Promise<Outcome> {
  const exit = await launch(ns, client, { name: "client.ts", args: [tag, String(n)], env }).exited(15_000);
  assert.equal(exit.code, 0, exit.stderr);
  return lastJson<Outcome>(exit.stdout);
}

/** Run a CLI tool (`ls`, `call`, `send`) against the name service at `ns`. */
function cli(ns: NameService | string, args: string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return runLuanet([...args, "--ns", typeof ns === "string" ? ns : ns.addr], { env, timeoutMs: 10_000 });
}

/**
 * Wait until `proc` has logged a refusal of `peer` (a regex source; default: any loopback
 * address) for `reason`: as its own line, or named as the last one in the summary that a second
 * of further refusals is folded into. Only what it logged after offset `since` counts.
 */
function refusal(proc: Running, reason: string, peer = String.raw`127\.0\.0\.1:\d+`, since = 0): Promise<RegExpExecArray> {
  const pattern = new RegExp(String.raw`(?:WARN refused|the last was) ${peer}: ${reason}`);
  return poll(`${pattern} on stderr\n${proc.stderr}`, () => pattern.exec(proc.stderr.slice(since)) ?? undefined, 10_000, 50);
}

const count = (stdout: string, line: string) => stdout.split("\n").filter((l) => l === line).length;

/** A failed CLI run: exit 1 and one `luanet: <code>: <message>` line about the cluster's security. */
function assertToolRefused(exit: Exit, about: RegExp, what: string): void {
  assert.equal(exit.code, 1, `${what} exits 1\n${exit.stderr}`);
  assert.match(exit.stderr, new RegExp(String.raw`^luanet: \w+: .*${about.source}`, "m"), what);
  assert.equal(exit.stdout, "", `${what} prints no result`);
}

const until = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- tests -------------------------------------------------------------------------------------

// Every test has processes of its own, so all of them run at once.
describe("security", { concurrency: true }, () => {
  describe("cluster secret", { concurrency: true }, () => {
    test("a name service, a service, a client and the CLI tools sharing the secret work together", async () => {
      const ns = await startNameService({ env: GOOD });
      const svc = await startService(ns, server, { name: "plus-server.ts", env: GOOD });
      const out = await runCalls(ns, GOOD, "member", 3);
      assert.deepEqual(out, { results: [1, 2, 3], send: null });
      // The CLI tools, one with the secret in LUANET_SECRET instead of a file.
      const [ls, call, send] = await Promise.all([
        cli(ns, ["ls"], GOOD),
        cli(ns, ["call", "PlusServer", "Plus", '{"a":40,"b":2,"tag":"cli"}'], { ...NONE, LUANET_SECRET: goodHex }),
        cli(ns, ["send", "PlusServer", '{"tag":"cli"}'], GOOD),
      ]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(ls.stdout, /^PlusServer\s+127\.0\.0\.1:\d+\s+tcp\s+Plus\s/m);
      assert.equal(call.code, 0, call.stderr);
      assert.equal(call.stdout.trim(), "42");
      assert.equal(send.code, 0, send.stderr);
      await svc.waitFor(/^message: cli$/m, 5000);
      assert.equal(count(svc.stdout, "handler ran: member"), 3);
      assert.equal(count(svc.stdout, "message: member"), 1);
      assert.equal(count(svc.stdout, "handler ran: cli"), 1);
      for (const proc of [ns.proc, svc]) {
        assert.doesNotMatch(proc.stderr, /refused|WARN/, "nobody was refused, and a mode 600 secret file gives no warning");
      }
    });

    for (const [kind, env, reason] of [
      ["no secret", NONE, "it did not start the cluster handshake"],
      ["a wrong secret", WRONG, String.raw`its proof of the cluster secret is wrong`],
    ] as const) {
      test(`a process with ${kind} is refused by the name service, by a service, and as the CLI's target; no handler runs`, async (t) => {
        const tag = kind.replace(/ /g, "-");
        const ns = await startNameService({ env: GOOD });
        const svc = await startService(ns, server, { name: "plus-server.ts", env: GOOD });

        // The name service refuses it: no registration (and no lookups, below).
        const squatter = launch(ns, `
          luanet.StartLocalService("Squatter", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
          luanet.Register2Name(NS);
        `, { env });
        await squatter.waitFor(/cannot register Squatter with the name service .*cluster (secret|handshake)/, 10_000, "stderr");
        await refusal(ns.proc, reason);
        squatter.child.kill("SIGKILL");

        // The service refuses it when it comes straight to the service's address.
        const viaDecoy = await startDecoy(listening(svc, "PlusServer"), "stream", env);
        const direct = await runCalls(viaDecoy, env, tag);
        assert.match(String(direct.results[0]), /^(unavailable|disconnected): .*cluster (secret|handshake)/);
        await refusal(svc, reason);

        // The CLI tools fail with a clear message, against the name service and against the service.
        const about = /cluster (secret|handshake)/;
        const tools = await Promise.all([
          cli(ns, ["ls"], env),
          cli(ns, ["call", "PlusServer", "Plus", `{"a":1,"b":2,"tag":"${tag}"}`], env),
          cli(ns, ["send", "PlusServer", `{"tag":"${tag}"}`], env),
          cli(viaDecoy, ["call", "PlusServer", "Plus", `{"a":1,"b":2,"tag":"${tag}"}`], env),
          cli(viaDecoy, ["send", "PlusServer", `{"tag":"${tag}"}`], env),
        ]);
        const sendDirect = tools.pop()!;
        const names = ["ls", "call", "send", "call at the service"];
        tools.forEach((exit, i) => assertToolRefused(exit, about, `luanet ${names[i]} with ${kind}`));
        await t.test(`luanet send to the service with ${kind} exits 1`, () => assertToolRefused(sendDirect, about, "luanet send to the service"));

        // Nothing the intruders sent reached a handler, the mailbox or the registry; members still work.
        const ls = await cli(ns, ["ls"], GOOD);
        assert.equal(ls.code, 0, ls.stderr);
        assert.match(ls.stdout, /^PlusServer /m);
        assert.doesNotMatch(ls.stdout, /Squatter/);
        const call = await cli(ns, ["call", "PlusServer", "Plus", '{"a":2,"b":3,"tag":"member"}'], GOOD);
        assert.equal(call.stdout.trim(), "5", call.stderr);
        assert.equal(count(svc.stdout, "handler ran: member"), 1);
        assert.doesNotMatch(svc.stdout, new RegExp(`${tag}`), "no handler ran and no message arrived for the intruder");
        assert.equal(svc.child.exitCode, null);
        assert.equal(ns.proc.child.exitCode, null);
      });
    }

    test("a recorded handshake replayed on a new connection is refused, and its call does not run", async () => {
      const ns = await startNameService({ env: GOOD });
      const svc = await startService(ns, server, { name: "plus-server.ts", env: GOOD });
      const [host, port] = listening(svc, "PlusServer").split(":") as [string, string];

      // A proxy that records what the client sends to the service.
      const recorded: Buffer[] = [];
      const sockets = new Set<Socket>();
      const proxy = createServer((down) => {
        const up = connect(Number(port), host);
        for (const s of [down, up]) {
          sockets.add(s);
          s.on("error", () => {});
        }
        down.on("data", (chunk: Buffer) => {
          recorded.push(chunk);
          up.write(chunk);
        });
        up.on("data", (chunk: Buffer) => down.write(chunk));
        down.on("close", () => up.destroy());
        up.on("close", () => down.destroy());
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      try {
        const viaProxy = await startDecoy(`127.0.0.1:${(proxy.address() as AddressInfo).port}`, "stream", GOOD);
        const out = await runCalls(viaProxy, GOOD, "recorded", 2);
        assert.deepEqual(out, { results: [1, 2], send: null });
        await svc.waitFor(/^message: recorded$/m, 5000);
        const bytes = Buffer.concat(recorded);
        assert.ok(bytes.includes("recorded"), "the proxy recorded the client's calls");

        // The same bytes, verbatim, on a fresh connection: handshake, HELLO, calls and message.
        const replay = connect(Number(port), host);
        replay.on("error", () => {});
        const answered: Buffer[] = [];
        replay.on("data", (chunk: Buffer) => answered.push(chunk));
        const closed = new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 5000);
          replay.on("close", () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        await new Promise<void>((resolve) => replay.once("connect", resolve));
        const from = `127\\.0\\.0\\.1:${replay.localPort}`;
        replay.write(bytes);
        assert.ok(await closed, "the service closed the replaying connection");
        const types: number[] = [];
        new FrameDecoder(1 << 20).push(Buffer.concat(answered), (body) => types.push(decode(body)[0]));
        assert.ok(types.every((type) => type === 6 || type === 7), `the service sent only its handshake (frame types ${types})`);
        await refusal(svc, "its proof of the cluster secret is wrong", from);
        await until(200);
        assert.equal(count(svc.stdout, "handler ran: recorded"), 2, "exactly the two recorded calls ran, once each");
        assert.equal(count(svc.stdout, "message: recorded"), 1);
      } finally {
        for (const s of sockets) s.destroy();
        proxy.close();
      }
    });

    test("UDP: members get answers; no secret and a wrong secret are refused; replayed datagrams do not run again", async () => {
      const ns = await startNameService({ env: GOOD });
      // A short handshake timeout, so the listener gives up on the wrong-secret dialer quickly.
      const svc = await startService(ns, server, { name: "plus-server.ts", args: ["udp"], env: { ...GOOD, LUANET_HELLO_TIMEOUT_MS: "1000" } });
      const target = listening(svc, "PlusServer");
      const [host, port] = target.split(":") as [string, string];

      assert.deepEqual(await runCalls(ns, GOOD, "udp-member", 3), { results: [1, 2, 3], send: null });

      // No secret: plain datagrams; the service answers "handshake first" and logs the refusal.
      const plain = await runCalls(await startDecoy(target, "dgram", NONE), NONE, "udp-no-secret");
      assert.match(String(plain.results[0]), /^\w+: .*no cluster secret/);
      await refusal(svc, "a datagram outside any cluster session");
      // A wrong secret: the dialer cannot check the service's answer, and never sends a signed datagram.
      const wrong = await runCalls(await startDecoy(target, "dgram", WRONG), WRONG, "udp-wrong-secret");
      assert.match(String(wrong.results[0]), /^unavailable: .*cluster handshake.*does not check/);
      await refusal(svc, "no signed datagram within 1000 ms of its challenge");

      // A proxy that records what a member sends, then sends it again.
      const down = dgram.createSocket("udp4");
      const up = dgram.createSocket("udp4");
      const fresh = dgram.createSocket("udp4");
      try {
        const recorded: Buffer[] = [];
        let clientAddr: dgram.RemoteInfo | null = null;
        down.on("message", (datagram, from) => {
          clientAddr = from;
          recorded.push(datagram);
          up.send(datagram);
        });
        up.on("message", (datagram) => clientAddr && down.send(datagram, clientAddr.port, clientAddr.address));
        await new Promise<void>((resolve) => down.bind(0, "127.0.0.1", resolve));
        await new Promise<void>((resolve) => up.connect(Number(port), host, resolve));
        await new Promise<void>((resolve) => fresh.bind(0, "127.0.0.1", resolve));
        const answers: Buffer[] = [];
        fresh.on("message", (datagram) => answers.push(datagram));

        const out = await runCalls(await startDecoy(`127.0.0.1:${down.address().port}`, "dgram", GOOD), GOOD, "udp-recorded", 2);
        assert.deepEqual(out, { results: [1, 2], send: null });
        await svc.waitFor(/^message: udp-recorded$/m, 5000);
        // After the route header ([cid: 4][0 or 3], or [cid: 4][1 or 4][cookie: 16] while echoing a cookie), DATA
        // datagrams are [3][seq: 6][hello length: 2][hello][envelope, or a batch of them][mac: 16]: pick the calls
        // and the message.
        const data = recorded.map((d) => d.subarray(d[4] === 1 || d[4] === 4 ? 21 : 5)).filter((d) => d[0] === 3);
        const envelopesOf = (d: Buffer) => {
          const out: Array<readonly unknown[]> = [];
          unbatch(d.subarray(0, d.length - 16), 9 + d.readUInt16BE(7), (body) => out.push(decode(body)));
          return out;
        };
        const types = data.flatMap((d) => envelopesOf(d).map((e) => e[0]));
        assert.ok(types.includes(2) && types.includes(1), `the proxy recorded calls and a message (types ${types})`);

        // Again from the same address, inside the same session: the replay window refuses them.
        for (const datagram of recorded) up.send(datagram);
        await refusal(svc, String.raw`a datagram that fails its cluster-secret check \(forged, replayed or a different secret\)`,
          `127\\.0\\.0\\.1:${up.address().port}`);
        // And verbatim from a new address: its cookies do not check there, so it gets nothing but COOKIEs.
        for (const datagram of recorded) fresh.send(datagram, Number(port), host);
        await poll("COOKIEs for the new address", () => answers.length >= recorded.length ? true : undefined, 5000);
        // BATCH_COOKIEs (6): the recorded datagrams say that their sender takes batches.
        assert.ok(answers.every((a) => a[0] === 6 && a.length === 17), "the new address got only COOKIEs, no replies");
        assert.equal(count(svc.stdout, "handler ran: udp-recorded"), 2, "each recorded call ran once");
        assert.equal(count(svc.stdout, "message: udp-recorded"), 1, "the recorded message arrived once");
        assert.doesNotMatch(svc.stdout, /udp-no-secret|udp-wrong-secret/);
        assert.equal(count(svc.stdout, "handler ran: udp-member"), 3);
      } finally {
        down.close();
        up.close();
        fresh.close();
      }
    });
  });

  describe("TLS", { concurrency: true }, () => {
    // On each test (the runner counts skipped tests, not skipped suites).
    const skip = haveOpenssl ? false : "the openssl command is not installed: it makes the test certificates (apt-get install openssl)";
    // Made lazily: with no openssl, the tests are skipped and nothing runs.
    let made: { members: () => TlsEnv; rogue: TlsEnv; ca: string } | null = null;
    const certs = () => {
      if (made === null) {
        const ca = makeCA("luanet test cluster CA");
        let n = 0;
        made = { members: () => ca.member(`member${++n}`), rogue: makeCA("rogue CA").member("rogue"), ca: ca.ca };
      }
      return made;
    };

    test("members with certificates from the cluster CA work; an unknown CA and no TLS are refused", { skip }, async () => {
      const { members, rogue, ca } = certs();
      const ns = await startNameService({ env: members() });
      const svc = await startService(ns, server, { name: "plus-server.ts", env: members() });
      const member = members();
      assert.deepEqual(await runCalls(ns, member, "tls-member", 3), { results: [1, 2, 3], send: null });
      const ls = await cli(ns, ["ls"], member);
      assert.match(ls.stdout, /^PlusServer /m, ls.stderr);

      // Three intruders, one after the other, each refusal looked for in what was logged after it
      // came (and a second later, so the rate-limited log has written the previous one's lines):
      // - an impostor with a certificate from another CA, which trusts the cluster's CA (public)
      //   as well as its own (so that it can use its decoy);
      // - a rogue member of another CA, which trusts only that CA;
      // - a process with no TLS, speaking plain frames to TLS listeners.
      const both = secretFile("both-ca.pem", readFileSync(ca, "utf8") + readFileSync(rogue.LUANET_TLS_CA, "utf8"));
      const intruders = [
        ["tls-impostor", { ...NONE, ...rogue, LUANET_TLS_CA: both }, "its certificate does not verify against the cluster CA"],
        ["tls-rogue", { ...NONE, ...rogue }, "(socket hang up|read ECONNRESET|its certificate does not verify against the cluster CA)"],
        ["tls-none", NONE, "wrong version number"],
      ] as const;
      for (const [who, env, reason] of intruders) {
        const [nsSince, svcSince] = [ns.proc.stderr.length, svc.stderr.length];
        const viaNs = await runCalls(ns, env, who);
        assert.match(String(viaNs.results[0]), /^unavailable: /, `${who}: the name service does not answer it`);
        await refusal(ns.proc, `TLS handshake failed: ${reason}`, undefined, nsSince);
        const direct = await runCalls(await startDecoy(listening(svc, "PlusServer"), "stream", env), env, who);
        assert.match(String(direct.results[0]), /^(unavailable|disconnected): /, `${who}: the service does not answer it`);
        await refusal(svc, `TLS handshake failed: ${reason}`, undefined, svcSince);
        if (who === "tls-rogue") assert.match(String(direct.results[0]), /self-signed certificate in certificate chain/, "the rogue does not trust the cluster's CA");
        await until(1100);
      }
      // The impostor once more, from this process, so the logged address can be checked exactly.
      const [host, port] = listening(svc, "PlusServer").split(":") as [string, string];
      const impostor = tlsConnect({ host, port: Number(port), cert: readFileSync(rogue.LUANET_TLS_CERT), key: readFileSync(rogue.LUANET_TLS_KEY),
        ca: readFileSync(ca), checkServerIdentity: () => undefined });
      impostor.on("error", () => {});
      await new Promise<void>((resolve) => impostor.once("secureConnect", resolve));
      const from = `127\\.0\\.0\\.1:${impostor.localPort}`;
      impostor.write("anything");
      await refusal(svc, "TLS handshake failed: its certificate does not verify against the cluster CA", from);
      impostor.destroy();
      assert.doesNotMatch(svc.stdout, /tls-impostor|tls-rogue|tls-none/, "no handler ran for them");
      assert.equal(count(svc.stdout, "handler ran: tls-member"), 3);
    });

    test("TLS and a secret together: members work; a member certificate with a wrong secret is refused", { skip }, async () => {
      const { members } = certs();
      const ns = await startNameService({ env: { ...GOOD, ...members() } });
      const svc = await startService(ns, server, { name: "plus-server.ts", env: { ...GOOD, ...members() } });
      assert.deepEqual(await runCalls(ns, { ...GOOD, ...members() }, "both-member", 2), { results: [1, 2], send: null });
      const intruder = { ...WRONG, ...members() };
      const direct = await runCalls(await startDecoy(listening(svc, "PlusServer"), "stream", intruder), intruder, "both-wrong");
      assert.match(String(direct.results[0]), /^unavailable: .*proof of the cluster secret is wrong/);
      await refusal(svc, "its proof of the cluster secret is wrong");
      assert.doesNotMatch(svc.stdout, /both-wrong/);
      assert.equal(count(svc.stdout, "handler ran: both-member"), 2);
    });
  });

  describe("bad security settings", { concurrency: true }, () => {
    const short = secretFile("short", "too short\n");
    const readable = secretFile("readable", goodHex, 0o644);
    const missing = join(secrets, "missing");
    const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
      ["a secret file under 16 bytes", ["nameservice", "--listen", "127.0.0.1:0"], { ...NONE, LUANET_SECRET_FILE: short },
        /^luanet: the cluster secret is 9 bytes; it must be at least 16 \(try: openssl rand -hex 32 > secret\)$/],
      ["a secret under 16 bytes in LUANET_SECRET", ["ls", "--ns", "127.0.0.1:1"], { ...NONE, LUANET_SECRET: "short" },
        /^luanet: the cluster secret is 5 bytes; it must be at least 16/],
      ["a missing --secret-file", ["call", "X", "Y", "--ns", "127.0.0.1:1", "--secret-file", missing], NONE,
        new RegExp(`^luanet: cannot read the cluster secret file ${missing}: ENOENT`)],
      ["only --tls-cert", ["nameservice", "--listen", "127.0.0.1:0", "--tls-cert", short], NONE,
        /^luanet: TLS needs a certificate, a key and a CA; only cert given \(--tls-cert, --tls-key, --tls-ca\)$/],
      ["a TLS certificate and key but no CA", ["send", "X", "1", "--ns", "127.0.0.1:1"], { ...NONE, LUANET_TLS_CERT: short, LUANET_TLS_KEY: short },
        /^luanet: TLS needs a certificate, a key and a CA; only cert, key given/],
      ["a missing TLS key", ["nameservice", "--listen", "127.0.0.1:0"], { ...NONE, LUANET_TLS_CERT: short, LUANET_TLS_KEY: missing, LUANET_TLS_CA: short },
        new RegExp(`^luanet: cannot read the TLS key ${missing}: ENOENT`)],
    ];
    for (const [what, args, env, message] of cases) {
      test(`${what}: luanet ${args[0]} exits 1 with one line naming the problem`, async () => {
        const exit = await runLuanet(args, { env, timeoutMs: 10_000 });
        assert.equal(exit.code, 1, exit.stderr);
        assert.equal(exit.stderr.trim().split("\n").length, 1, exit.stderr);
        assert.match(exit.stderr.trim(), message);
      });
    }

    test("a script with a short secret does not run; one with a secret file others can read runs, with a warning", async () => {
      const dir = tempDir();
      writeFileSync(join(dir, "script.ts"), `console.log("the script ran");\n`);
      const bad = await runLuanet([join(dir, "script.ts")], { cwd: dir, env: { ...NONE, LUANET_SECRET_FILE: short } });
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "", "the script did not run");
      assert.match(bad.stderr.trim(), /^luanet: the cluster secret is 9 bytes/);
      const warned = await runLuanet([join(dir, "script.ts")], { cwd: dir, env: { ...NONE, LUANET_SECRET_FILE: readable } });
      assert.equal(warned.code, 0, warned.stderr);
      assert.equal(warned.stdout.trim(), "the script ran");
      assert.match(warned.stderr, new RegExp(`WARN the secret file ${readable} can be read by other users; chmod 600 it`));
    });
  });

  test("a service listening beyond loopback with no secret and no TLS warns once; with a secret, or on loopback, it does not", async () => {
    const dir = tempDir();
    const script = (ip: string) => `
      import * as net from "luanet/net";
      export default function* () {
        const [addr] = yield* luanet.StartLocalService("Exposed", SOCK_STREAM, net.netaddr_ipv4(${JSON.stringify(ip)}, 0));
        console.log("listening on " + net.formatAddr(addr));
        luanet.Exit(0);
      }
    `;
    writeFileSync(join(dir, "wide.ts"), script("0.0.0.0"));
    writeFileSync(join(dir, "loopback.ts"), script("127.0.0.1"));
    const warning = /WARN Exposed listens on 0\.0\.0\.0:\d+, beyond this machine, with no cluster secret and no TLS/g;
    const open = await runLuanet([join(dir, "wide.ts")], { cwd: dir, env: NONE });
    assert.equal(open.code, 0, open.stderr);
    assert.equal(open.stderr.match(warning)?.length, 1, open.stderr);
    for (const [file, env] of [["wide.ts", GOOD], ["loopback.ts", NONE]] as const) {
      const quiet = await runLuanet([join(dir, file)], { cwd: dir, env });
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.match(quiet.stdout, /listening on/);
      assert.doesNotMatch(quiet.stderr, /WARN/, `${file}: ${quiet.stderr}`);
    }
  });
});
