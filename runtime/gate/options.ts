/**
 * What `luanet.StartGate(options)` takes, checked at once (a TypeError names the option and what
 * it got), with the defaults docs/protocol.md section 13.6 lists.
 * @internal
 */
import { isNetAddr, parseAddr, type Inet6Addr, type InetAddr, type NetAddr } from "../../stdlib/net.js";
import { describe } from "../errors.js";
import { badName } from "../names.js";
import type { Balance } from "../service/group.js";

/** How requests for one service's routes pick a member of its group. */
export interface RouteOptions {
  /** The balancing key: the session's uid (the default), its id, or none (`balance` decides). */
  key?: "uid" | "session" | "none";
  balance?: Balance;
  /** Deadline of these requests, ms. */
  timeout?: number;
}

export interface GateOptions {
  /** Listen for WebSocket clients: "127.0.0.1:3010" or a net address (port 0: any). */
  ws?: NetAddr | string;
  /** Listen for TCP clients (4-byte length framing). */
  tcp?: NetAddr | string;
  /** "Service.Func": the function a client's AUTH is handed to; its result's `uid` is bound. */
  auth?: string;
  /** Per service (or group) name: how its requests are routed. */
  routes?: Record<string, RouteOptions>;
  /** The only services (or groups) clients may route to; without it, any name, up to
   * MAX_TARGETS distinct ones, new ones tried at most NEW_TARGETS_PER_SECOND. */
  services?: string[];
  /** WebSocket permessage-deflate (off by default: it costs CPU and memory per client). */
  deflate?: boolean;
  heartbeatMs?: number;
  authTimeoutMs?: number;
  maxClients?: number;
  maxClientsPerAddress?: number;
  maxRequestBytes?: number;
  maxQueueBytes?: number;
  maxPending?: number;
  /** Requests and messages per second per session (bursts of twice that). */
  rateLimit?: number;
  /** Deadline of a client's request, ms (default: the service's rpcTimeout). */
  timeout?: number;
}

export type IpAddr = InetAddr | Inet6Addr;

export interface GateSettings {
  ws: IpAddr | null;
  tcp: IpAddr | null;
  auth: { service: string; func: string } | null;
  routes: ReadonlyMap<string, RouteOptions>;
  services: ReadonlySet<string> | null;
  deflate: boolean;
  heartbeatMs: number;
  authTimeoutMs: number;
  maxClients: number;
  maxClientsPerAddress: number;
  maxRequestBytes: number;
  maxQueueBytes: number;
  maxPending: number;
  rateLimit: number;
  timeout: number | null;
}

export const GATE_DEFAULTS = {
  heartbeatMs: 10_000,
  authTimeoutMs: 10_000,
  maxClients: 10_000,
  maxClientsPerAddress: 256,
  maxRequestBytes: 65_536,
  maxQueueBytes: 1_048_576,
  maxPending: 64,
  rateLimit: 100,
} as const;

const WHERE = "luanet.StartGate(options)";
const KNOWN = new Set(["ws", "tcp", "auth", "routes", "services", "deflate", "timeout", ...Object.keys(GATE_DEFAULTS)]);

/** "Service.Func" split at the last dot, or null if it is not one. */
export function splitRoute(route: string): { service: string; func: string } | null {
  const dot = route.lastIndexOf(".");
  if (dot <= 0 || dot === route.length - 1) return null;
  const service = route.slice(0, dot);
  const func = route.slice(dot + 1);
  return badName(service) === null && badName(func) === null ? { service, func } : null;
}

function address(name: string, value: unknown): IpAddr | null {
  if (value === undefined) return null;
  let addr: unknown = value;
  try {
    if (typeof value === "string") addr = parseAddr(value);
  } catch {
    addr = null;
  }
  if (!isNetAddr(addr) || addr.family === "local") throw new TypeError(`${WHERE}: options.${name} must be "host:port" or an IPv4/IPv6 net address, got ${describe(value)}`);
  return addr;
}

function count(options: Record<string, unknown>, name: keyof typeof GATE_DEFAULTS, min: number): number {
  const value = options[name] ?? GATE_DEFAULTS[name];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) throw new TypeError(`${WHERE}: options.${name} must be an integer of at least ${min}, got ${describe(value)}`);
  return value;
}

function routeOptions(name: string, value: unknown): RouteOptions {
  const where = `${WHERE}: options.routes[${JSON.stringify(name)}]`;
  if (typeof value !== "object" || value === null) throw new TypeError(`${where} must be an object, got ${describe(value)}`);
  const r = value as RouteOptions;
  for (const key of Object.keys(r)) if (key !== "key" && key !== "balance" && key !== "timeout") throw new TypeError(`${where}: unknown option ${JSON.stringify(key)} (known: key, balance, timeout)`);
  if (r.key !== undefined && r.key !== "uid" && r.key !== "session" && r.key !== "none") throw new TypeError(`${where}.key must be "uid", "session" or "none", got ${describe(r.key)}`);
  if (r.balance !== undefined && r.balance !== "least-pending" && r.balance !== "round-robin" && r.balance !== "random") throw new TypeError(`${where}.balance must be "least-pending", "round-robin" or "random", got ${describe(r.balance)}`);
  if (r.timeout !== undefined && (typeof r.timeout !== "number" || !(r.timeout > 0))) throw new TypeError(`${where}.timeout must be a positive number of ms, got ${describe(r.timeout)}`);
  return r;
}

export function gateSettings(options: unknown): GateSettings {
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw new TypeError(`${WHERE}: options must be an object ({ ws?, tcp?, auth? ... }), got ${describe(options)}`);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw new TypeError(`${WHERE}: unknown option ${JSON.stringify(key)} (known: ${[...KNOWN].join(", ")})`);
  const ws = address("ws", o.ws);
  const tcp = address("tcp", o.tcp);
  if (ws === null && tcp === null) throw new TypeError(`${WHERE}: give options.ws or options.tcp (or both): where clients connect`);
  let auth: GateSettings["auth"] = null;
  if (o.auth !== undefined) {
    auth = typeof o.auth === "string" ? splitRoute(o.auth) : null;
    if (auth === null) throw new TypeError(`${WHERE}: options.auth must be "Service.Func" (the function a client's AUTH is handed to), got ${describe(o.auth)}`);
  }
  const routes = new Map<string, RouteOptions>();
  if (o.routes !== undefined) {
    if (typeof o.routes !== "object" || o.routes === null) throw new TypeError(`${WHERE}: options.routes must be an object of route options by service name, got ${describe(o.routes)}`);
    for (const [name, value] of Object.entries(o.routes)) routes.set(name, routeOptions(name, value));
  }
  let services: Set<string> | null = null;
  if (o.services !== undefined) {
    if (!Array.isArray(o.services) || o.services.some((x) => typeof x !== "string" || badName(x) !== null)) throw new TypeError(`${WHERE}: options.services must be an array of service or group names, got ${describe(o.services)}`);
    services = new Set(o.services as string[]);
  }
  if (o.deflate !== undefined && typeof o.deflate !== "boolean") throw new TypeError(`${WHERE}: options.deflate must be true or false, got ${describe(o.deflate)}`);
  if (o.timeout !== undefined && (typeof o.timeout !== "number" || !(o.timeout > 0))) throw new TypeError(`${WHERE}: options.timeout must be a positive number of ms, got ${describe(o.timeout)}`);
  return {
    ws, tcp, auth, routes, services,
    deflate: o.deflate === true,
    heartbeatMs: count(o, "heartbeatMs", 100),
    authTimeoutMs: count(o, "authTimeoutMs", 1),
    maxClients: count(o, "maxClients", 1),
    maxClientsPerAddress: count(o, "maxClientsPerAddress", 1),
    maxRequestBytes: count(o, "maxRequestBytes", 64),
    maxQueueBytes: count(o, "maxQueueBytes", 1024),
    maxPending: count(o, "maxPending", 1),
    rateLimit: count(o, "rateLimit", 1),
    timeout: (o.timeout as number | undefined) ?? null,
  };
}
