/**
 * What a registration may be, wherever one is read: the name service's Register, and every value
 * read from etcd. A registration comes from another process, so each field is checked for its
 * type and bounded in size, and only the known fields are kept (`publicInfo`): nothing a peer adds
 * is stored or passed on.
 * @internal
 */
import { isNetAddr, type NetAddr } from "../../stdlib/net.js";
import { badName } from "../names.js";
import type { ServiceInfo } from "./types.js";

/** RPC functions one registration may list. */
export const MAX_FUNCS = 1024;
/** Groups one registration may be in. */
export const MAX_GROUPS = 256;
/** The whole registration, as JSON (the form etcd stores), in UTF-8 bytes. */
export const MAX_REGISTRATION_BYTES = 65_536;
/** The holder's secret token (name service Register only): its length in characters. */
export const MIN_TOKEN_LENGTH = 16;
export const MAX_TOKEN_LENGTH = 128;

/** Which field of `info` is wrong and why, or null if it is a registration. */
export function badRegistration(info: unknown): string | null {
  if (typeof info !== "object" || info === null || Array.isArray(info)) return "info must be a map { name, type, addr, pid, host, funcs, started, groups? }";
  const { name, type, addr, pid, host, funcs, started, groups } = info as Record<string, unknown>;
  const problem = field("name", badName(name)) ??
    (type === "stream" || type === "dgram" ? null : `type must be "stream" or "dgram"`) ??
    (isNetAddr(addr) ? null : "addr must be a NetAddr ({ family: \"inet\" | \"inet6\", ip, port } or { family: \"local\", path })") ??
    (Number.isSafeInteger(pid) && (pid as number) >= 0 ? null : "pid must be a non-negative integer") ??
    field("host", badName(host)) ??
    badList("funcs", "function", funcs, MAX_FUNCS) ??
    (groups === undefined ? null : badList("groups", "group", groups, MAX_GROUPS)) ??
    (Array.isArray(groups) && groups.includes(name) ? `groups: a service cannot be a member of a group with its own name ${JSON.stringify(name)}` : null) ??
    (typeof started === "number" && Number.isFinite(started) ? null : "started must be a finite number (ms since the epoch)");
  if (problem !== null) return problem;
  const bytes = Buffer.byteLength(JSON.stringify(publicInfo(info as ServiceInfo)));
  return bytes > MAX_REGISTRATION_BYTES ? `the registration is ${bytes} bytes as JSON, more than the ${MAX_REGISTRATION_BYTES} allowed` : null;
}

/** Why `token` cannot be a holder's token, or null. */
export function badToken(token: unknown): string | null {
  if (typeof token === "string" && token.length >= MIN_TOKEN_LENGTH && token.length <= MAX_TOKEN_LENGTH) return null;
  return `token must be text of ${MIN_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters (a secret random per process)`;
}

/** What is wrong with the list of names `field` (of `what`s, at most `max`), or null. */
function badList(field: string, what: string, list: unknown, max: number): string | null {
  if (!Array.isArray(list)) return `${field} must be an array of ${what} names`;
  if (list.length > max) return `${field} lists ${list.length} ${what}s, more than the ${max} allowed`;
  for (let i = 0; i < list.length; i++) {
    const problem = badName(list[i]);
    if (problem !== null) return `${field}[${i}]: ${problem}`;
  }
  return null;
}

const field = (what: string, problem: string | null) => (problem === null ? null : `${what}: ${problem}`);

/** A copy of the published fields of a checked registration, and nothing else. */
export function publicInfo(info: ServiceInfo): ServiceInfo {
  const { name, type, addr, pid, host, funcs, started, groups } = info;
  return { name, type, addr: copyAddr(addr), pid, host, funcs: [...funcs], started, groups: groups === undefined ? [] : [...new Set(groups)] };
}

function copyAddr(addr: NetAddr): NetAddr {
  return addr.family === "local" ? { family: addr.family, path: addr.path } : { family: addr.family, ip: addr.ip, port: addr.port };
}
