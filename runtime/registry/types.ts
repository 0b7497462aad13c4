/**
 * Where services find each other. The built-in name service implements this; issue #7 adds etcd.
 * @internal
 */
import type { NetAddr, SocketType } from "../../stdlib/net.js";

/** What a service publishes about itself. */
export interface ServiceInfo {
  name: string;
  type: SocketType;
  addr: NetAddr;
  pid: number;
  host: string;
  /** Its RPC functions, by name. */
  funcs: string[];
  /** When it started (ms since the epoch). */
  started: number;
  /** Random per process, so a process re-registering is told apart from a rival. */
  instance: string;
}

export interface Registry {
  /** A live service's info, or null if no live service has that name. */
  lookup(name: string): Promise<ServiceInfo | null>;
  /** Names of the live services that provide `func`. */
  providers(func: string): Promise<string[]>;
  /** Every live service. */
  list(): Promise<ServiceInfo[]>;
}
