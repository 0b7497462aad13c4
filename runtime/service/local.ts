/**
 * This process's own service: its name, listener and callbacks. A process without one (a CLI
 * tool, a script that only calls) has `name === null` and gets its replies on the connections it
 * opens.
 * @internal
 */
import type { NetAddr, SocketType } from "../../stdlib/net.js";
import type { Listener } from "../transport/types.js";

export const local = {
  name: null as string | null,
  type: "stream" as SocketType,
  /** The bound listen address, once listening. */
  addr: null as NetAddr | null,
  listener: null as Listener | null,
  onDisconnected: null as ((peer: string) => void) | null,
  /** Random per process: tells a re-registration of this process from a second one. */
  instance: `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
  started: Date.now(),
};
