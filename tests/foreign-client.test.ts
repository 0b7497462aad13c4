/**
 * A client in another language, written from docs/protocol.md alone (tests/fixtures/
 * foreign_client.py: Python with no CBOR library), against live luanet processes: name service
 * lookup, calls over TCP and UDP, an id past 2^32, PING, a bad frame, and the cluster secret's
 * handshakes (stream and UDP) with a secret file of hex digits. Skipped where python3 is missing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { lastJson, launch, startNameService, startService } from "./helpers/cluster.ts";
import { root, startProcess, tempDir } from "./helpers/proc.ts";
import { listenPort } from "./helpers/raw.ts";

const python = spawnSync("python3", ["--version"]).status === 0 ? "python3" : null;

const SERVICE = `
  luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
  luanet.RegRPCFunction("Echo", (x: unknown) => x);
  luanet.RegRPCFunction("Nothing", () => undefined);
`;

test("a Python client written from the protocol document talks to luanet over TCP and UDP, with and without the cluster secret", { skip: python === null ? "python3 is not installed" : false }, async () => {
  const dir = tempDir();
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 }); // as openssl rand -hex 32 writes it
  const ns = await startNameService();
  const listening = (name: string) => new RegExp(`${name} listening on 127\\.0\\.0\\.1:(\\d+)`);
  const secret = { env: { LUANET_SECRET_FILE: secretFile } };
  // The secret ones cannot register with a name service that has no secret: the client dials their ports.
  const secretStream = launch(ns, `${SERVICE} luanet.StartLocalService("SecretStream", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));`, secret);
  const secretUdp = launch(ns, `${SERVICE} luanet.StartLocalService("SecretUdp", SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0));`, secret);
  const [foreign] = await Promise.all([
    startService(ns, `${SERVICE} luanet.StartLocalService("Foreign", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0)); luanet.Register2Name(NS);`),
    startService(ns, `${SERVICE} luanet.StartLocalService("ForeignUdp", SOCK_DGRAM, net.netaddr_ipv4("127.0.0.1", 0)); luanet.Register2Name(NS);`),
  ]);
  const foreignPort = listenPort(foreign.stderr, "Foreign");
  const streamPort = (await secretStream.waitFor(listening("SecretStream"), 10_000, "stderr"))[1]!;
  const udpPort = (await secretUdp.waitFor(listening("SecretUdp"), 10_000, "stderr"))[1]!;

  const client = startProcess(python!, [join(root, "tests", "fixtures", "foreign_client.py"), String(ns.port), streamPort, udpPort, secretFile]);
  const exit = await client.exited(30_000);
  assert.equal(exit.code, 0, `the client failed:\n${exit.stderr}`);
  const seen = lastJson(exit.stdout);

  assert.deepEqual(seen.info, { name: "Foreign", type: "stream", addr: { family: "inet", ip: "127.0.0.1", port: foreignPort }, funcs: ["Plus", "Echo", "Nothing"] });
  assert.equal(seen.plus, 3);
  // an id past 2^32 comes back as the same integer, in the 8-byte form, not as a float64
  assert.deepEqual(seen.bigId, { id: 2 ** 32 + 5, form: "1b0000000100000005", result: 5 });
  assert.equal(seen.noSuchFunction, "no_such_function");
  assert.deepEqual(seen.ping, [5]);
  assert.deepEqual(seen.echo, { big: 2 ** 40, small: 7 });
  assert.equal(seen.nothing, "Undefined", "a handler returning nothing answers f7");
  assert.equal(seen.badFrame, "closed", "a bad frame in the same write as a call: the connection closes, the answer is not sent");
  assert.equal(seen.udpType, "dgram");
  assert.deepEqual(seen.udpPlus, [3, 2 ** 40 + 1, 42]);
  assert.equal(seen.secretPlus, 7);
  assert.equal(seen.secretUdpPlus, 11);
  assert.equal(seen.noSecret, "closed");
});
