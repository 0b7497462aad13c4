/**
 * Talking to etcd: the address form, the client (npm `etcd3`, over gRPC), the key layout and the
 * bound on every wait.
 *
 * `etcd3` and gRPC take about 0.3 s to load, so they are loaded on first use: a process on the
 * built-in name service never pays for them.
 *
 * Key layout, under the prefix (default "/luanet"); names and functions are percent-encoded
 * (encodeURIComponent), so a "/" in them cannot be mistaken for the layout's own:
 *
 *   <prefix>/services/<name>        the service's ServiceInfo as JSON, on the service's lease
 *   <prefix>/funcs/<func>/<name>    the service's name, on the same lease: the function index
 *   <prefix>/groups/<group>/<name>  the service's name, on the same lease: the members of a group
 * @internal
 */
import type { IBackoff } from "cockatiel";
import type { IOptions, Namespace } from "etcd3";
import { RPCError } from "../errors.js";
import { onShutdown } from "../lifecycle.js";
import { log } from "../log.js";
import { badName } from "../names.js";
import type { ServiceInfo } from "./types.js";
import { badRegistration, MAX_REGISTRATION_BYTES, publicInfo } from "./validate.js";

/** A registry address "etcd://host:port[,host:port...][/prefix]", read. */
export interface EtcdSpec {
  kind: "etcd";
  /** "host:port" each; a host is a name, an IPv4 address or "[v6]". */
  hosts: string[];
  /** Where luanet's keys live: "/luanet" unless the address says otherwise. */
  prefix: string;
  /** The address in canonical form. */
  url: string;
}

export const DEFAULT_PREFIX = "/luanet";

/** Read "etcd://host:port[,host:port...][/prefix]"; a TypeError that says what is wrong otherwise. */
export function parseEtcdUrl(text: string): EtcdSpec {
  const where = `the etcd address ${JSON.stringify(text)}`;
  const m = /^etcd:\/\/([^/]*)(\/.*)?$/.exec(text);
  if (m === null) throw new TypeError(`${where} must look like etcd://host:port[,host:port...][/prefix]`);
  const hosts = m[1]!.split(",").map((h) => h.trim());
  if (hosts.some((h) => h === "")) throw new TypeError(`${where} names no etcd member: expected etcd://host:port[,host:port...]`);
  for (const host of hosts) {
    const hp = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(host);
    const port = Number(hp?.[2]);
    if (hp === null || !(port >= 1 && port <= 65535)) throw new TypeError(`${where}: "${host}" must be host:port with a port from 1 to 65535`);
  }
  const prefix = (m[2] ?? DEFAULT_PREFIX).replace(/\/+$/, "");
  if (prefix === "") throw new TypeError(`${where}: the key prefix must not be "/" alone; leave it out for the default ${DEFAULT_PREFIX}`);
  return { kind: "etcd", hosts, prefix, url: `etcd://${hosts.join(",")}${prefix === DEFAULT_PREFIX ? "" : prefix}` };
}

function positiveEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * The lease time: a service that dies is gone from etcd, and from every caller's cache, this
 * long after its last keep-alive. LUANET_ETCD_TTL (whole seconds, as etcd counts them).
 */
export const leaseSeconds = (): number => positiveEnv("LUANET_ETCD_TTL", 3);
/** The longest any wait on etcd lasts before it is an `unavailable` error. LUANET_ETCD_TIMEOUT_MS.
 * Both are read on use, so a process on the name service never reads them. */
export const timeoutMs = (): number => positiveEnv("LUANET_ETCD_TIMEOUT_MS", 3000);

export const keys = {
  services: "services/",
  service: (name: string) => `services/${encodeURIComponent(name)}`,
  /** The name in a services key; null if it is not one luanet writes (bad encoding, a bad name). */
  nameOf: (serviceKey: string) => decoded(serviceKey.slice("services/".length)),
  allFuncs: "funcs/",
  funcs: (func: string) => `funcs/${encodeURIComponent(func)}/`,
  /** The function in a function index key; null if it is not one luanet writes. */
  funcOf: (funcKey: string) => decoded(funcKey.split("/")[1]!),
  func: (func: string, name: string) => `funcs/${encodeURIComponent(func)}/${encodeURIComponent(name)}`,
  allGroups: "groups/",
  group: (group: string) => `groups/${encodeURIComponent(group)}/`,
  /** The group in a group key; null if it is not one luanet writes. */
  groupOf: (groupKey: string) => decoded(groupKey.split("/")[1]!),
  member: (group: string, name: string) => `groups/${encodeURIComponent(group)}/${encodeURIComponent(name)}`,
};

function decoded(part: string): string | null {
  try {
    const name = decodeURIComponent(part);
    return badName(name) === null ? name : null;
  } catch {
    return null; // malformed percent-encoding: not a key luanet wrote
  }
}

/** A connected client's view of the keys under the prefix. */
export interface Client {
  kv: Namespace;
}

/** A client for `spec` (one per address per process: etcd.ts keeps it); closed at shutdown. */
export async function openClient(spec: EtcdSpec): Promise<Client> {
  const [lib, cockatiel] = await Promise.all([import("etcd3"), import("cockatiel")]);
  const ms = timeoutMs();
  const options: IOptions = {
    hosts: spec.hosts.map((h) => `http://${h}`),
    dialTimeout: ms,
    defaultCallOptions: (call) => (call.isStream ? {} : { deadline: Date.now() + ms }),
    faultHandling: {
      // A member that fails three calls in a row is skipped for a second; each call is tried on
      // up to three members. The defaults (5 s, and up to 30 s between watch reconnects) would
      // make recovery after an outage needlessly slow.
      host: () => cockatiel.circuitBreaker(cockatiel.handleWhen(lib.isRecoverableError), { halfOpenAfter: 1000, breaker: new cockatiel.ConsecutiveBreaker(3) }),
      global: cockatiel.retry(cockatiel.handleWhen(lib.isRecoverableError), { maxAttempts: 3 }),
      // etcd3 calls next() on this, as on a factory; its type says an instance (IBackoff).
      watchBackoff: new cockatiel.ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as unknown as IBackoff<unknown>,
    },
    // Notice a member that went silent (a cut link, no reset) within seconds, not hours. etcd
    // refuses pings more often than every 5 s.
    grpcOptions: { "grpc.keepalive_time_ms": 6000, "grpc.keepalive_timeout_ms": 2000, "grpc.keepalive_permit_without_calls": 1 },
  };
  const etcd = new lib.Etcd3(options);
  onShutdown(() => etcd.close());
  return { kv: etcd.namespace(`${spec.prefix}/`) };
}

/**
 * `work` on the client, within the bound (timeoutMs) from when the client is ready (loading it is
 * not waiting for etcd); a failure or a timeout is an RPCError "unavailable" that names etcd and
 * what was being done.
 */
export async function bounded<T>(client: Promise<Client>, spec: EtcdSpec, what: string, work: (c: Client) => Promise<T>): Promise<T> {
  const c = await client;
  const ms = timeoutMs();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RPCError("unavailable", `etcd at ${spec.hosts.join(",")} did not answer within ${ms} ms (${what})`)), ms);
  });
  try {
    return await Promise.race([work(c), late]);
  } catch (error) {
    if (error instanceof RPCError) throw error;
    const why = (error as Error).message.replace(/\s*Resolution note:\s*$/, ""); // gRPC's, often empty
    throw new RPCError("unavailable", `cannot reach etcd at ${spec.hosts.join(",")} (${what}): ${why}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Keys whose bad value was logged already, at most this many (past that, ignored quietly). */
const MAX_WARNED = 1000;

/**
 * A registration read from etcd (its published fields only), or null if the value is not a valid
 * one for that key: logged once per key (`warned` keeps them), never thrown, so a stray writer
 * cannot break a reader.
 */
export function parseInfo(text: string, name: string, warned: Set<string>): ServiceInfo | null {
  let problem: string | null;
  let info: unknown = null;
  if (Buffer.byteLength(text) > MAX_REGISTRATION_BYTES) {
    problem = `it is over ${MAX_REGISTRATION_BYTES} bytes`;
  } else {
    try {
      info = JSON.parse(text);
      problem = badRegistration(info) ?? ((info as ServiceInfo).name === name ? null : "its name is not the key's");
    } catch {
      problem = "it is not JSON";
    }
  }
  if (problem === null) return publicInfo(info as ServiceInfo);
  if (!warned.has(name) && warned.size < MAX_WARNED) {
    warned.add(name);
    log.warn(`ignoring the etcd key for ${JSON.stringify(name.slice(0, 100))}: its value is not a luanet registration (${problem})`);
  }
  return null;
}
