/**
 * Groups whose members share a process with the caller (issue 14, `opts.prefer`): the caller's
 * process runs one member of "Room" (Near) beside the caller, another process runs two (Far1,
 * Far2), all registered with a real name service. `prefer: "process"` keeps calls in the process
 * while a member is there, and balances over all members by the same strategy once none is;
 * `prefer: "host"` (everything here is one host) changes nothing. The fixtures are under
 * tests/fixtures/groups-local/; the caller prints one JSON line per check.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNameService, type NameService } from "./helpers/cluster.ts";
import { fixture, root, startLuanet, type Running } from "./helpers/proc.ts";

const fixtures = join(root, "tests/fixtures/groups-local");
type Check = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("a group with members in the caller's process", () => {
  let ns: NameService;
  let remote: Running;
  let checks: Map<string, Check>;
  before(async () => {
    ns = await startNameService();
    remote = startLuanet([join(fixtures, "remote.ts")], { cwd: fixture({}), env: { LUANET_NS: ns.addr } });
    await remote.waitFor(/"check":"remote up"/, 20_000);
    const r = await startLuanet([join(fixtures, "local.ts")], { cwd: fixture({}), env: { LUANET_NS: ns.addr } }).exited(60_000);
    assert.equal(r.code, 0, `local.ts exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    checks = new Map(r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Check).map((c) => [c.check, c]));
  });
  after(async () => {
    await remote?.stop(5000);
    await ns?.proc.stop(5000);
  });
  const check = (name: string): Check => {
    const found = checks.get(name);
    assert.ok(found !== undefined, `no check "${name}" was printed`);
    return found;
  };

  test("bad options and bad group names are TypeErrors that say what is wrong", () => {
    const errors = check("type errors").typeErrors as string[];
    assert.match(errors[0]!, /^TypeError: luanet\.RPCCall.*opts\.balance must be "least-pending", "round-robin", "random", got "fastest"/);
    assert.match(errors[1]!, /^TypeError: .*opts\.key must be a string, got 7/);
    assert.match(errors[2]!, /^TypeError: .*opts\.prefer must be "process" or "host", got "rack"/);
    assert.match(errors[3]!, /^TypeError: .*opts\.idempotent must be true or false/);
    assert.match(errors[4]!, /^TypeError: luanet\.SendMsg.*opts\.balance/);
    assert.match(errors[5]!, /^TypeError: luanet\.JoinGroup\(group\): group: a name must not be empty/);
    assert.match(errors[6]!, /^TypeError: luanet\.JoinGroup\(group\): a service cannot join a group with its own name "Caller"/);
    assert.match(errors[7]!, /^TypeError: luanet\.Broadcast/);
  });

  test("NewService waits for the member's JoinGroup: the group lists all three, sorted", () => {
    const { near, members } = check("members");
    assert.equal(near, "Near");
    assert.deepEqual(members, ["Far1", "Far2", "Near"]);
  });

  test("prefer: \"process\" sends every call to the member in the process", () => {
    assert.deepEqual(check("prefer process").counts, { Near: 300 });
    assert.deepEqual(check("key").counts, { Near: 50 }, "a key chooses among the near members only");
  });

  test("prefer: \"host\" with every member on this host is the strategy over all of them", () => {
    assert.deepEqual(check("prefer host").counts, { Far1: 100, Far2: 100, Near: 100 });
    assert.deepEqual(check("no preference").counts, { Far1: 100, Far2: 100, Near: 100 });
  });

  test("with no member left in the process, prefer: \"process\" balances over all, by the same strategy", () => {
    assert.deepEqual(check("near left"), { check: "near left", left: null, leaveErr: null });
    const { members, counts } = check("after leave");
    assert.deepEqual(members, ["Far1", "Far2"]);
    assert.deepEqual(counts, { Far1: 150, Far2: 150 });
  });
});

test("idempotent retries happen only at the original caller, never again in a handler (a hop)", async () => {
  const ns = await startNameService();
  try {
    const r = await startLuanet([join(fixtures, "hops.ts")], { cwd: fixture({}), env: { LUANET_NS: ns.addr } }).exited(60_000);
    assert.equal(r.code, 0, `hops.ts exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const line = r.stdout.split("\n").find((l) => l.includes('"check":"hops"'));
    assert.ok(line !== undefined, r.stdout);
    const { direct, relayed } = JSON.parse(line) as { direct: Record<string, number>; relayed: Record<string, number> };
    assert.deepEqual(direct, { Fast: 6 }, "the caller's own calls that tried the slow worker were retried on the fast one");
    assert.deepEqual(relayed, { Fast: 3, remote_error: 3 }, "the relay's calls to the slow worker timed out there, unretried");
  } finally {
    await ns.proc.stop(5000);
  }
});
