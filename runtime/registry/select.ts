/**
 * Which registry a service uses: the one seam between the service layer and the registries.
 * Name look-ups for RPCCall and SendMsg, GetRemoteFuncProvider, Register2Name and the CLI tools
 * all go through the registry `RegistryChoice.forService` gives.
 *
 * A registry address is either a name service's ("127.0.0.1:8010", "[::1]:8010",
 * "unix:/tmp/ns.sock") or etcd's ("etcd://host:port[,host:port...][/prefix]"). The choice,
 * strongest first:
 *   1. `--registry ADDR` or LUANET_REGISTRY, else `--ns ADDR` or LUANET_NS: chosen by whoever
 *      runs the script, so it holds whatever address the script passes to Register2Name;
 *   2. the address the script passes to `luanet.Register2Name`;
 *   3. the registry of the service that started this one (luanet.NewService), if it had one;
 *   4. the built-in name service at 127.0.0.1:8010.
 * @internal
 */
import { formatAddr, isNetAddr, parseAddr, type NetAddr } from "../../stdlib/net.js";
import { describe } from "../errors.js";
import { parseEtcdUrl, type EtcdSpec } from "./etcd-client.js";
import { EtcdRegistry } from "./etcd.js";
import { DEFAULT_NAMESERVICE, NameServiceRegistry } from "./nameservice.js";
import type { Registrant, Registry, RegistryHost } from "./types.js";

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

export function describeSpec(spec: RegistrySpec): string {
  return spec.kind === "etcd" ? spec.url : formatAddr(spec.addr);
}

/**
 * The registry `Register2Name(addr)` registers with: the one the address names (it is checked
 * here; a TypeError says what is wrong).
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

/** The process's registries: the choice made by whoever runs it, and one etcd client per address. */
export class RegistryChoice {
  /** Chosen by --registry, --ns or the environment: Register2Name's address does not override
   * it. Undefined until first needed (the environment is read then: the CLI reads it first, to
   * make a bad value a usage error). */
  private chosen: RegistrySpec | null | undefined = undefined;
  private readonly etcd = new Map<string, EtcdRegistry>();

  constructor(private readonly host: RegistryHost, private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** The registry chosen by whoever runs the process (--registry, --ns). */
  pin(spec: RegistrySpec): void {
    this.chosen = spec;
  }

  private get pinned(): RegistrySpec | null {
    if (this.chosen === undefined) {
      const { LUANET_REGISTRY: registry, LUANET_NS: ns } = this.env;
      this.chosen = registry !== undefined && registry !== "" ? parseRegistry(registry)
        : ns !== undefined && ns !== "" ? { kind: "nameservice", addr: parseAddr(ns) } : null;
    }
    return this.chosen;
  }

  /** What a service whose script asked for `asked` (null: nothing yet) uses. */
  specFor(asked: RegistrySpec | null): RegistrySpec {
    return this.pinned ?? asked ?? { kind: "nameservice", addr: parseAddr(DEFAULT_NAMESERVICE) };
  }

  /** True when the script's choice `asked` is overruled by the pinned one. */
  overrules(asked: RegistrySpec): boolean {
    return this.pinned !== null && describeSpec(this.pinned) !== describeSpec(asked);
  }

  /** The registry at `spec`, for `self` (null: a service with no name yet). A name service
   * client is the service's own (its connection carries its registration); etcd's is shared. */
  forService(spec: RegistrySpec, self: Registrant | null): Registry {
    if (spec.kind === "nameservice") return new NameServiceRegistry(spec.addr, this.host, self);
    let r = this.etcd.get(spec.url);
    if (r === undefined) this.etcd.set(spec.url, (r = new EtcdRegistry(spec, this.host)));
    return r;
  }
}
