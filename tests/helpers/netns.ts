/**
 * Simulated hosts for tests: Linux network namespaces joined by a switch, built with iproute2.
 *
 * The switch is a bridge inside a namespace of its own, and each host is a namespace with one
 * veth link to it and its own address in a private /24. Nothing is created in the namespace the
 * tests run in, so interface names never collide; only the namespace names are global, and they
 * carry this process's pid and a random tag, as the subnet does, so parallel runs stay apart.
 * `cut(host)` pulls the host's cable (its switch port goes down), `restore(host)` plugs it back.
 * `etcdOn(host)` runs an etcd on a host's address, a registry every host reaches over the switch.
 * Everything is deleted when the test file ends, failed or not. Needs root (CAP_SYS_ADMIN) and
 * `ip`; `netnsUnsupported()` says why not, for skipping.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { join } from "node:path";
import { after } from "node:test";
import { prelude } from "./cluster.ts";
import { etcdBin, etcdMissing } from "./etcd.ts";
import { fixture, luanetBin, startProcess, tempDir, type Running } from "./proc.ts";

const tag = `lnt${process.pid}${randomBytes(2).toString("hex")}`;

/** Run `ip ...args` (bounded); returns stdout, throws with the command and its stderr. */
export function ip(...args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", timeout: 5000, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")} failed: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

let unsupported: string | null | undefined;

/** Why network namespaces cannot be used here (for a skip message), or null if they can. */
export function netnsUnsupported(): string | null {
  if (unsupported !== undefined) return unsupported;
  if (process.platform !== "linux") return (unsupported = `network namespaces need Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) return (unsupported = "network namespaces need root (run the tests as root, e.g. in CI)");
  try {
    ip("-V");
  } catch {
    return (unsupported = "the `ip` command (iproute2) is missing: apt-get install -y iproute2");
  }
  const probe = `${tag}-probe`;
  try {
    ip("netns", "add", probe);
  } catch (error) {
    return (unsupported = `cannot create a network namespace (no CAP_SYS_ADMIN?): ${(error as Error).message}`);
  }
  try {
    ip("-n", probe, "link", "add", "br0", "type", "bridge");
    ip("-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
    unsupported = null;
  } catch (error) {
    unsupported = `the kernel cannot make bridges or veth links: ${(error as Error).message}`;
  } finally {
    ip("netns", "delete", probe);
  }
  return unsupported;
}

export interface Host {
  /** What the test calls it: "h1". */
  name: string;
  /** The network namespace it is. */
  netns: string;
  /** Its address on the switch. */
  ip: string;
  /** Its switch port, an interface inside the switch's namespace. */
  port: string;
  /** The MAC address of its link. */
  mac: string;
}

export interface Network {
  hosts: Record<string, Host>;
  /** Pull the host's cable: its switch port goes down, so nothing reaches it or leaves it. */
  cut(host: Host): void;
  restore(host: Host): void;
  /**
   * Make `from` resolve `to`'s address for good (a permanent ARP entry), as it would a router's:
   * with the cable out, `from`'s packets then go out and vanish, rather than failing at once
   * with "no route to host" when ARP gives up.
   */
  pinNeighbour(from: Host, to: Host): void;
}

const namespaces: string[] = [];

/** Delete every namespace this file made; their veth links and bridge go with them. */
function removeAll(): void {
  for (const netns of namespaces.splice(0).reverse()) {
    try {
      ip("netns", "delete", netns);
    } catch {
      // already gone
    }
  }
}
after(removeAll);
process.on("exit", removeAll); // a test file that dies before its `after` hooks

/** A switch and one namespace per host name, each host at 10.a.b.(i+1) on a fresh random /24. */
export function createNetwork(names: string[]): Network {
  const subnet = `10.${randomInt(1, 255)}.${randomInt(0, 256)}`;
  const add = (suffix: string) => {
    const netns = `${tag}-${suffix}`;
    ip("netns", "add", netns);
    namespaces.push(netns);
    ip("-n", netns, "link", "set", "lo", "up");
    return netns;
  };
  const sw = add("switch");
  ip("-n", sw, "link", "add", "br0", "type", "bridge"); // no STP: a port forwards as soon as it is up
  ip("-n", sw, "link", "set", "br0", "up");
  const hosts: Record<string, Host> = {};
  names.forEach((name, i) => {
    const netns = add(name);
    const port = `p-${name}`.slice(0, 15);
    const addr = `${subnet}.${i + 1}`;
    ip("-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns);
    ip("-n", sw, "link", "set", port, "master", "br0", "up");
    ip("-n", netns, "addr", "add", `${addr}/24`, "dev", "eth0");
    ip("-n", netns, "link", "set", "eth0", "up");
    const mac = (JSON.parse(ip("-n", netns, "-j", "link", "show", "eth0")) as { address: string }[])[0]!.address;
    hosts[name] = { name, netns, ip: addr, port, mac };
  });
  return {
    hosts,
    cut: (host) => void ip("-n", sw, "link", "set", host.port, "down"),
    restore: (host) => void ip("-n", sw, "link", "set", host.port, "up"),
    pinNeighbour: (from, to) => void ip("-n", from.netns, "neigh", "replace", to.ip, "lladdr", to.mac, "dev", "eth0", "nud", "permanent"),
  };
}

/**
 * Start `node bin/luanet.js ...args` inside the host's namespace, through proc.ts (killed by PID
 * when the file ends). `ip netns exec` execs the command without forking, so the child's PID is
 * the luanet process itself.
 */
export function luanetOn(host: Host, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  return startProcess("ip", ["netns", "exec", host.netns, process.execPath, luanetBin, ...args], options);
}

/** Write `source` (after cluster.ts's prelude) to a fresh folder and run it on `host` with LUANET_NS=ns. */
export function launchOn(host: Host, ns: string, source: string, options: { name?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const name = options.name ?? "service.ts";
  const dir = fixture({ [name]: prelude + source });
  return luanetOn(host, [join(dir, name)], { cwd: dir, env: { LUANET_NS: ns, ...options.env } });
}

/** etcd's default ports: free in a host's own namespace, where nothing else listens. */
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;

export interface EtcdOnHost {
  proc: Running;
  /** The registry address luanet takes: "etcd://<host ip>:2379". */
  url: string;
}

/**
 * A one-member etcd on `host`, listening on the host's address, so the other simulated hosts
 * reach it over the switch (an etcd on 127.0.0.1 in the test's namespace is out of their
 * reach). Resolves once it answers /health with a leader, asked from inside `host` (bounded);
 * killed by PID when the file ends, its data in a temp folder removed then.
 */
export async function etcdOn(host: Host, ms = 20_000): Promise<EtcdOnHost> {
  if (etcdBin === null) throw new Error(etcdMissing as string);
  const client = `http://${host.ip}:${ETCD_CLIENT_PORT}`;
  const peer = `http://${host.ip}:${ETCD_PEER_PORT}`;
  const proc = startProcess("ip", ["netns", "exec", host.netns, etcdBin,
    "--name", "m0", "--data-dir", join(tempDir(), "etcd"),
    "--listen-client-urls", client, "--advertise-client-urls", client,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `m0=${peer}`,
    "--log-level", "warn", "--logger", "zap",
  ], { label: `etcd on ${host.name}` });
  const deadline = Date.now() + ms;
  while (!(await healthyFrom(host, client))) {
    if (!proc.running) throw new Error(`etcd on ${host.name} exited\n${proc.describe()}`);
    if (Date.now() > deadline) throw new Error(`etcd on ${host.name} was not healthy within ${ms} ms\n${proc.describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { proc, url: `etcd://${host.ip}:${ETCD_CLIENT_PORT}` };
}

/** Whether etcd at `endpoint` answers /health "true", asked by a node run in `host` (bounded). */
function healthyFrom(host: Host, endpoint: string): Promise<boolean> {
  const ask = `fetch(${JSON.stringify(endpoint + "/health")}, { signal: AbortSignal.timeout(1000) })` +
    `.then((r) => r.json()).then((h) => process.exit(h.health === "true" ? 0 : 1), () => process.exit(1))`;
  return new Promise((resolve) => {
    execFile("ip", ["netns", "exec", host.netns, process.execPath, "-e", ask], { timeout: 5000 }, (error) => resolve(error === null));
  });
}
