/**
 * One cluster on two simulated hosts (network namespaces on one switch, helpers/netns.ts), each
 * with its own supervisor (`luanet up` with its own cluster file), sharing one etcd that runs on
 * a third host: how a cluster spans machines (issue 15).
 *
 *   h1: RoomA-1, RoomA-2 (group "Room") and Caller      etcd: on the host "db"
 *   h2: RoomB-1, RoomB-2 (group "Room") and Lobby
 *
 * Every service listens on its host's address (the file's "env" gives it). Caller (h1) calls
 * Lobby (h2), Lobby calls Caller, and each calls the group round-robin: every room of both hosts
 * answers its share. `luanet ps` run on h1 and on h2 lists the six services with the right host
 * and the PIDs the services themselves report. SIGTERM to each supervisor (by PID) stops its
 * services, and it exits 0.
 *
 * Skipped, with the reason, where namespaces cannot be made (not Linux, not root, no iproute2)
 * or there is no etcd binary.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { poll } from "./helpers/cluster.ts";
import { etcdMissing } from "./helpers/etcd.ts";
import { createNetwork, etcdOn, luanetOn, netnsUnsupported, type Host } from "./helpers/netns.ts";
import { fixture, type Exit, type Running } from "./helpers/proc.ts";
import { trackStarted } from "./helpers/up.ts";

/** Two supervisors starting three services each, beside etcd, on a two-CPU machine. */
const STARTUP_MS = 60_000;
const TOOL_MS = 20_000;
/** Draining a service with no call in flight takes well under a second; the rest is slack. */
const STOP_MS = 30_000;
/** Calls each Tally makes to the group: round-robin over 4 members gives each exactly 2. */
const CALLS = 8;

const prelude = `
import type {} from "luanet/globals";
import * as net from "luanet/net";
const me = luanet.instance!.name;
luanet.StartLocalService(me, SOCK_STREAM, net.netaddr_ipv4(process.env.HOST_IP!, 0));
luanet.RegRPCFunction("Where", () => ({ name: me, host: process.env.LUANET_HOST!, pid: process.pid }));
`;

/** A room: answers Where; `luanet up` makes it a member of its entry's group. */
const room = `${prelude}
luanet.Register2Name(process.env.LUANET_REGISTRY!);
`;

/** Caller and Lobby: Where, and Tally, which calls `peer` once and the group Room `n` times. */
const tally = `${prelude}
interface Where { name: string; host: string; pid: number }
luanet.RegRPCFunction("Tally", function* ({ peer, n }: { peer: string; n: number }) {
  const [other, otherErr] = yield* luanet.RPCCall<Where>(peer, "Where", null);
  if (otherErr !== null) throw otherErr;
  const [members, membersErr] = yield* luanet.GetGroupMembers("Room");
  if (membersErr !== null) throw membersErr;
  const rooms: Record<string, Where & { replies: number }> = {};
  for (let i = 0; i < n; i++) {
    const [r, err] = yield* luanet.RPCCall<Where>("Room", "Where", null, { balance: "round-robin" });
    if (err !== null) throw err;
    rooms[r.name] = { ...r, replies: (rooms[r.name]?.replies ?? 0) + 1 };
  }
  return { peer: other, members, rooms };
});
luanet.Register2Name(process.env.LUANET_REGISTRY!);
`;

interface Where { name: string; host: string; pid: number }
interface Tally { peer: Where; members: string[]; rooms: Record<string, Where & { replies: number }> }

/** One host's folder: its cluster file (`rooms` instances of the entry `roomEntry`, and `other`)
 * and the two scripts. */
function hostFiles(host: Host, roomEntry: string, other: string): string {
  const env = { HOST_IP: host.ip };
  const file = { services: {
    [roomEntry]: { script: "room.ts", instances: 2, group: "Room", env },
    [other]: { script: "tally.ts", env },
  } };
  return fixture({ "luanet.cluster.json": JSON.stringify(file, null, 2), "room.ts": room, "tally.ts": tally });
}

interface PsLine { name: string; pid: number; host: string; status: string }

/** `luanet ps`'s table, one row per service. */
function psRows(stdout: string): PsLine[] {
  const [header, ...lines] = stdout.trim().split("\n");
  assert.match(header ?? "", /^NAME +PROCESS +PID +HOST +STATUS /, stdout);
  return lines.map((line) => {
    const [name, , pid, host, status] = line.split(/\s+/);
    return { name: name!, pid: Number(pid), host: host!, status: status! };
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** The services table of `luanet ls` (the groups table after it left out): name -> address, pid. */
function lsRows(stdout: string): Map<string, { addr: string; pid: number }> {
  const [, ...lines] = stdout.split("\n\n")[0]!.trim().split("\n");
  return new Map(lines.map((line) => {
    const [name, addr, , , pid] = line.split(/\s+/);
    return [name!, { addr: addr!, pid: Number(pid) }];
  }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0); // the namespaces share the test's PID namespace
    return true;
  } catch {
    return false;
  }
}

const skip = netnsUnsupported() ?? etcdMissing;

describe("a cluster on two hosts, one supervisor each, sharing etcd", () => {
  test("services call across hosts, luanet ps on either host lists both, SIGTERM stops each host's", { skip, timeout: 240_000 }, async () => {
    const net = createNetwork(["db", "h1", "h2"]);
    const { db, h1, h2 } = net.hosts as Record<string, Host>;
    const etcd = await etcdOn(db!);
    const tool = (host: Host, args: string[]): Promise<Exit> => luanetOn(host, [...args, "--registry", etcd.url]).exited(TOOL_MS);
    const call = async <T>(host: Host, service: string, func: string, args: unknown): Promise<T> => {
      const exit = await tool(host, ["call", service, func, JSON.stringify(args)]);
      if (exit.code !== 0) throw new Error(`luanet call ${service} ${func} on ${host.name} exited ${exit.code}: ${exit.stderr}`);
      return JSON.parse(exit.stdout) as T;
    };

    const up = (host: Host, dir: string): Running =>
      trackStarted(luanetOn(host, ["up", join(dir, "luanet.cluster.json"), "--registry", etcd.url, "--host", host.name, "--listen", `${host.ip}:0`], { cwd: dir }));
    const sup1 = up(h1!, hostFiles(h1!, "RoomA", "Caller"));
    const sup2 = up(h2!, hostFiles(h2!, "RoomB", "Lobby"));
    const upMs: Record<string, number> = {};
    for (const [sup, host] of [[sup1, h1!], [sup2, h2!]] as const) {
      const m = await sup.waitFor(/(\d+) of (\d+) services running, (\d+) ms; luanet\.supervisor@(\S+) at (\S+):\d+/, STARTUP_MS);
      assert.deepEqual([m[1], m[2], m[4], m[5]], ["3", "3", host.name, host.ip], `${host.name}'s supervisor runs its 3 services and listens on ${host.ip}`);
      upMs[host.name] = Number(m[3]);
    }

    // Each host's caller reaches the other host's, and the group's members on both hosts:
    // round-robin gives each of the four rooms its share. Both supervisors start at once, so
    // a caller may list the group before the other host's rooms have joined: ask again then.
    const rooms = ["RoomA-1", "RoomA-2", "RoomB-1", "RoomB-2"];
    const tallies: Record<string, Tally> = {};
    for (const [host, service, peer] of [[h1!, "Caller", "Lobby"], [h2!, "Lobby", "Caller"]] as const) {
      tallies[service] = await poll(`${service} seeing the four rooms`, async () => {
        const t = await call<Tally>(host, service, "Tally", { peer, n: CALLS });
        return t.members.length === rooms.length ? t : undefined;
      }, STARTUP_MS, 200);
    }
    const where: Record<string, Where> = {};
    for (const [service, t] of Object.entries(tallies)) {
      assert.deepEqual(t.members, rooms, `${service} sees every room of both hosts in the group`);
      assert.deepEqual(Object.keys(t.rooms).sort(), rooms, `${service}'s calls reach every room: ${JSON.stringify(t.rooms)}`);
      for (const [name, r] of Object.entries(t.rooms)) {
        assert.equal(r.replies, CALLS / rooms.length, `${service}: round-robin gives ${name} its share: ${JSON.stringify(t.rooms)}`);
        assert.equal(r.host, name.startsWith("RoomA") ? "h1" : "h2");
        const seen = { name: r.name, host: r.host, pid: r.pid };
        if (where[name] !== undefined) assert.deepEqual(seen, where[name], `both callers reach the same ${name}`);
        where[name] = seen;
      }
      where[t.peer.name] = t.peer;
    }
    assert.equal(where.Lobby?.host, "h2", "Caller on h1 reached Lobby on h2");
    assert.equal(where.Caller?.host, "h1", "Lobby on h2 reached Caller on h1");

    // `luanet ps` from either host: every service of both, with its host and the PID it reports.
    const expected = Object.values(where).map((w) => ({ name: w.name, pid: w.pid, host: w.host, status: "running" })).sort((a, b) => a.name.localeCompare(b.name));
    assert.equal(expected.length, 6);
    for (const host of [h1!, h2!]) {
      const exit = await tool(host, ["ps"]);
      assert.equal(exit.code, 0, exit.stderr);
      assert.deepEqual(psRows(exit.stdout), expected, `luanet ps on ${host.name}:\n${exit.stdout}`);
    }
    for (const w of expected) assert.ok(alive(w.pid), `${w.name} (pid ${w.pid}) runs`);
    const only1 = await tool(h2!, ["ps", "--host", "h1"]);
    assert.deepEqual(psRows(only1.stdout), expected.filter((w) => w.host === "h1"), `luanet ps --host h1 on h2:\n${only1.stdout}`);

    // In etcd, each service (and each supervisor) is at its own host's address.
    const listed = await tool(h2!, ["ls"]);
    assert.equal(listed.code, 0, listed.stderr);
    const registered = lsRows(listed.stdout);
    const supervisors = [[`luanet.supervisor@h1`, h1!, sup1.child.pid!], [`luanet.supervisor@h2`, h2!, sup2.child.pid!]] as const;
    assert.deepEqual([...registered.keys()].sort(), [...expected.map((w) => w.name), ...supervisors.map(([n]) => n)].sort(), listed.stdout);
    for (const [name, host, pid] of [...expected.map((w) => [w.name, w.host === "h1" ? h1! : h2!, w.pid] as const), ...supervisors]) {
      assert.match(registered.get(name)!.addr, new RegExp(`^${host.ip.replaceAll(".", "\\.")}:\\d+$`), `${name} listens on ${host.name}'s address:\n${listed.stdout}`);
      assert.equal(registered.get(name)!.pid, pid, `${name}'s registered pid:\n${listed.stdout}`);
    }

    // SIGTERM to both supervisors, by PID: each drains and stops its own services, and exits 0.
    const began = Date.now();
    sup1.child.kill("SIGTERM");
    sup2.child.kill("SIGTERM");
    const [exit1, exit2] = await Promise.all([sup1.exited(STOP_MS), sup2.exited(STOP_MS)]);
    const stopMs = Date.now() - began;
    for (const [exit, name] of [[exit1, "h1"], [exit2, "h2"]] as const) {
      assert.equal(exit.code, 0, `${name}'s supervisor exits 0 on SIGTERM:\n${exit.stdout.slice(-3000)}\n${exit.stderr.slice(-3000)}`);
      assert.match(exit.stdout, /^up +\| stopped$/m);
    }
    for (const w of expected) assert.ok(!alive(w.pid), `${w.name} (pid ${w.pid}) is gone once its supervisor has exited`);
    const left = await tool(h1!, ["ls"]);
    assert.equal(left.code, 0, left.stderr);
    assert.deepEqual([...lsRows(left.stdout).keys()], [], `nothing of either host is left in etcd:\n${left.stdout}`);

    console.log(JSON.stringify({ upMs, stopBothMs: stopMs, pids: Object.fromEntries(expected.map((w) => [w.name, w.pid])) }));
    await etcd.proc.stop(5000);
  });
});
