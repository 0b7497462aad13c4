/**
 * Which registry this process uses: the one seam between the service layer and the registries.
 * Name look-ups for RPCCall and SendMsg, GetRemoteFuncProvider, Register2Name and the CLI tools
 * all go through `registry()`.
 *
 * A registry address is either a name service's ("127.0.0.1:8010", "[::1]:8010",
 * "unix:/tmp/ns.sock") or etcd's ("etcd://host:port[,host:port...][/prefix]"). The choice,
 * strongest first:
 *   1. `--registry ADDR` or LUANET_REGISTRY, else `--ns ADDR` or LUANET_NS: chosen by whoever
 *      runs the script, so it holds whatever address the script passes to Register2Name;
 *   2. the address the script passes to `luanet.Register2Name`;
 *   3. the built-in name service at 127.0.0.1:8010.
 * @internal
 */
import { formatAddr, isNetAddr, parseAddr, type NetAddr } from "../../stdlib/net.js";
import { describe, type LuanetError } from "../errors.js";
import { log } from "../log.js";
import { setResolver } from "../service/peers.js";
import { parseEtcdUrl, type EtcdSpec } from "./etcd-client.js";
import { etcdRegistry } from "./etcd.js";
import { nameServiceRegistry, useNameService } from "./nameservice.js";
import type { Registry } from "./types.js";

export type RegistrySpec = { kind: "nameservice"; addr: NetAddr } | EtcdSpec;

/** Read a registry address (see the top of this file); a TypeError that says what is wrong otherwise. */
export function parseRegistry(text: string): RegistrySpec {
  if (typeof text !== "string") throw new TypeError(`a registry address must be a string, got ${describe(text)}`);
  if (text.startsWith("etcd://")) return parseEtcdUrl(text);
  try {
    return { kind: "nameservice", addr: parseAddr(text) };
  } catch {
    throw new TypeError(`expected a name service address ("127.0.0.1:8010", "[::1]:8010", "unix:/path") or etcd://host:port[,host:port...][/prefix], got ${describe(text)}`);
  }
}

function describeSpec(spec: RegistrySpec): string {
  return spec.kind === "etcd" ? spec.url : formatAddr(spec.addr);
}

let current: Registry | null = null;
let chosen: RegistrySpec | null = null;
/** Chosen by --registry or LUANET_REGISTRY: Register2Name's address does not override it. */
let pinned = false;

function use(spec: RegistrySpec): void {
  chosen = spec;
  if (spec.kind === "etcd") {
    current = etcdRegistry(spec);
  } else {
    useNameService(spec.addr);
    current = nameServiceRegistry;
  }
}

/** The registry chosen by whoever runs the process (--registry, LUANET_REGISTRY). */
export function useRegistry(spec: RegistrySpec): void {
  use(spec);
  pinned = true;
}

/** The registry this process uses now. */
export function registry(): Registry {
  if (current === null) {
    const env = process.env.LUANET_REGISTRY;
    const ns = process.env.LUANET_NS;
    if (env !== undefined && env !== "") useRegistry(parseRegistry(env));
    else if (ns !== undefined && ns !== "") useRegistry({ kind: "nameservice", addr: parseAddr(ns) });
    else current = nameServiceRegistry;
  }
  return current!;
}

let registration: Promise<void> | null = null;
let registeredWith: Registry | null = null;

/**
 * The registry `Register2Name(addr)` registers with: the one the address names, unless the
 * registry was chosen on the command line or in the environment.
 */
export function registryFor(addr: NetAddr | string): RegistrySpec {
  const where = "luanet.Register2Name(nameaddr)";
  if (isNetAddr(addr)) return { kind: "nameservice", addr };
  if (typeof addr !== "string") {
    throw new TypeError(`${where}: nameaddr must come from net.netaddr_ipv4, netaddr_ipv6 or netaddr_local, or be an address such as "127.0.0.1:8010" or "etcd://127.0.0.1:2379", got ${describe(addr)}`);
  }
  try {
    return parseRegistry(addr);
  } catch (error) {
    throw new TypeError(`${where}: ${(error as Error).message}`);
  }
}

/** Use `spec`, the address a script gave Register2Name, unless the registry is pinned. */
export function chooseForScript(spec: RegistrySpec): void {
  registry(); // applies LUANET_REGISTRY, if set
  if (!pinned) return use(spec);
  if (describeSpec(spec) !== describeSpec(chosen!)) {
    log.info(`registering in ${current!.where} (chosen on the command line or in the environment), not at ${describeSpec(spec)} as the script says`);
  }
}

/** Register this process's service with the registry in use; the same promise every time. */
export function registerSelf(funcs: () => string[]): Promise<void> {
  return (registration ??= new Promise<void>((resolve, reject) => {
    registeredWith = registry();
    registeredWith.register(funcs, (error: LuanetError | null) => (error === null ? resolve() : reject(error)));
  }));
}

/** A function was registered: publish it, if this service is registered. */
export function republish(): void {
  registeredWith?.republish();
}

setResolver(async (name) => {
  const info = await registry().lookup(name);
  return info === null ? null : { addr: info.addr, type: info.type };
});
