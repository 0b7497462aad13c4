/**
 * Network addresses: validated, frozen values naming where a node listens or connects.
 *
 * @example
 * import { netaddr_ipv4, formatAddr, parseAddr } from "luanet/net";
 * const ns = netaddr_ipv4("127.0.0.1", 8010);
 * formatAddr(ns);                  // "127.0.0.1:8010"
 * parseAddr("[::1]:8010");         // { family: "inet6", ip: "::1", port: 8010 }
 */
import { isIPv4, isIPv6 } from "node:net";
import { describe } from "../runtime/errors.js";

/**
 * The IPv4 address family.
 * @example netaddr_ipv4("127.0.0.1", 80).family === AF_INET
 */
export const AF_INET = "inet" as const;
/**
 * The IPv6 address family.
 * @example netaddr_ipv6("::1", 80).family === AF_INET6
 */
export const AF_INET6 = "inet6" as const;
/**
 * The local (Unix domain socket) address family.
 * @example netaddr_local("/tmp/luanet.sock").family === AF_LOCAL
 */
export const AF_LOCAL = "local" as const;
/**
 * A reliable byte stream (TCP, or a stream Unix socket).
 * @example const kind: SocketType = SOCK_STREAM;
 */
export const SOCK_STREAM = "stream" as const;
/**
 * Datagrams (UDP, or a datagram Unix socket).
 * @example const kind: SocketType = SOCK_DGRAM;
 */
export const SOCK_DGRAM = "dgram" as const;

/**
 * One of `AF_INET`, `AF_INET6`, `AF_LOCAL`.
 * @example const family: AddressFamily = addr.family;
 */
export type AddressFamily = typeof AF_INET | typeof AF_INET6 | typeof AF_LOCAL;
/**
 * One of `SOCK_STREAM`, `SOCK_DGRAM`.
 * @example const kind: SocketType = "stream";
 */
export type SocketType = typeof SOCK_STREAM | typeof SOCK_DGRAM;

/**
 * An IPv4 address and port.
 * @example const addr: InetAddr = netaddr_ipv4("10.0.0.1", 8010);
 */
export interface InetAddr {
  readonly family: typeof AF_INET;
  readonly ip: string;
  readonly port: number;
}
/**
 * An IPv6 address and port.
 * @example const addr: Inet6Addr = netaddr_ipv6("::1", 8010);
 */
export interface Inet6Addr {
  readonly family: typeof AF_INET6;
  readonly ip: string;
  readonly port: number;
}
/**
 * A Unix domain socket path.
 * @example const addr: LocalAddr = netaddr_local("/tmp/luanet.sock");
 */
export interface LocalAddr {
  readonly family: typeof AF_LOCAL;
  readonly path: string;
}
/**
 * Any address; switch on `family` to tell them apart.
 * @example if (addr.family === AF_LOCAL) console.log(addr.path);
 */
export type NetAddr = InetAddr | Inet6Addr | LocalAddr;

/** The longest socket path Linux accepts (`sizeof(sun_path)` minus the terminating NUL). */
const MAX_LOCAL_PATH_BYTES = 107;

const IP = {
  inet: { isIP: isIPv4, expected: 'an IPv4 address such as "127.0.0.1"' },
  inet6: { isIP: isIPv6, expected: 'an IPv6 address such as "::1"' },
} as const;

function isPort(port: unknown): port is number {
  return typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535;
}

/** Why `path` can't be a local socket path, or undefined if it can. */
function localPathProblem(path: unknown): string | undefined {
  if (typeof path !== "string" || path === "" || path.includes("\0")) {
    return `path must be a non-empty string without NUL bytes, got ${describe(path)}`;
  }
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_LOCAL_PATH_BYTES) {
    return `path must be at most ${MAX_LOCAL_PATH_BYTES} bytes (the Linux socket path limit), got ${bytes} bytes`;
  }
  return undefined;
}

function inet<F extends keyof typeof IP>(where: string, family: F, ip: unknown, port: unknown) {
  if (typeof ip !== "string" || !IP[family].isIP(ip)) {
    throw new TypeError(`${where}: ip must be ${IP[family].expected}, got ${describe(ip)}`);
  }
  if (!isPort(port)) throw new TypeError(`${where}: port must be an integer from 0 to 65535, got ${describe(port)}`);
  return Object.freeze({ family, ip, port });
}

function local(where: string, path: unknown): LocalAddr {
  const problem = localPathProblem(path);
  if (problem !== undefined) throw new TypeError(`${where}: ${problem}`);
  return Object.freeze({ family: AF_LOCAL, path: path as string });
}

/**
 * An IPv4 address and port. Throws a TypeError naming the bad argument.
 * @example netaddr_ipv4("127.0.0.1", 8010) // { family: "inet", ip: "127.0.0.1", port: 8010 }
 */
export function netaddr_ipv4(ip: string, port: number): InetAddr {
  return inet("netaddr_ipv4(ip, port)", AF_INET, ip, port);
}

/**
 * An IPv6 address and port. Throws a TypeError naming the bad argument.
 * @example netaddr_ipv6("::1", 8010) // { family: "inet6", ip: "::1", port: 8010 }
 */
export function netaddr_ipv6(ip: string, port: number): Inet6Addr {
  return inet("netaddr_ipv6(ip, port)", AF_INET6, ip, port);
}

/**
 * A Unix domain socket path: non-empty, no NUL bytes, at most 107 bytes. Throws a TypeError otherwise.
 * @example netaddr_local("/tmp/luanet.sock") // { family: "local", path: "/tmp/luanet.sock" }
 */
export function netaddr_local(path: string): LocalAddr {
  return local("netaddr_local(path)", path);
}

/**
 * The text form of an address, as `parseAddr` reads it back.
 * @example
 * formatAddr(netaddr_ipv4("127.0.0.1", 8010)) // "127.0.0.1:8010"
 * formatAddr(netaddr_ipv6("::1", 8010))       // "[::1]:8010"
 * formatAddr(netaddr_local("/tmp/x.sock"))    // "unix:/tmp/x.sock"
 */
export function formatAddr(addr: NetAddr): string {
  switch (addr.family) {
    case AF_INET:
      return `${addr.ip}:${addr.port}`;
    case AF_INET6:
      return `[${addr.ip}]:${addr.port}`;
    case AF_LOCAL:
      return `unix:${addr.path}`;
  }
}

/**
 * Reads an address written as "ipv4:port", "[ipv6]:port", "unix:/path" or a bare "/path"
 * (the inverse of `formatAddr`). Host names are not resolved. Throws a TypeError on anything else.
 * @example
 * parseAddr("127.0.0.1:8010")   // { family: "inet", ip: "127.0.0.1", port: 8010 }
 * parseAddr("/tmp/luanet.sock") // { family: "local", path: "/tmp/luanet.sock" }
 */
export function parseAddr(text: string): NetAddr {
  const where = "parseAddr(text)";
  if (typeof text === "string") {
    if (text.startsWith("unix:")) return local(where, text.slice("unix:".length));
    if (text.startsWith("/")) return local(where, text);
    const v6 = /^\[(.+)\]:(\d+)$/.exec(text);
    if (v6) return inet(where, AF_INET6, v6[1], Number(v6[2]));
    const v4 = /^([^:[\]]+):(\d+)$/.exec(text);
    if (v4) return inet(where, AF_INET, v4[1], Number(v4[2]));
  }
  throw new TypeError(`${where}: expected "ipv4:port", "[ipv6]:port", "unix:/path" or "/path", got ${describe(text)}`);
}

/**
 * Whether `x` is a valid address, by structure: the right fields for its family, each valid.
 * @example
 * isNetAddr({ family: "inet", ip: "127.0.0.1", port: 8010 }) // true
 * isNetAddr({ family: "inet", ip: "localhost", port: 8010 }) // false
 */
export function isNetAddr(x: unknown): x is NetAddr {
  if (typeof x !== "object" || x === null) return false;
  const { family, ip, port, path } = x as Record<string, unknown>;
  if (family === AF_INET || family === AF_INET6) return typeof ip === "string" && IP[family].isIP(ip) && isPort(port);
  return family === AF_LOCAL && localPathProblem(path) === undefined;
}
