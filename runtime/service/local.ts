/**
 * This process's own service: its name, listener and callbacks. A process without one (a CLI
 * tool, a script that only calls) has `name === null` and gets its replies on the connections it
 * opens.
 * @internal
 */
import { randomBytes } from "node:crypto";
import type { NetAddr, SocketType } from "../../stdlib/net.js";
import type { Listener } from "../transport/types.js";

export const local = {
  name: null as string | null,
  type: "stream" as SocketType,
  /** The bound listen address, once listening. */
  addr: null as NetAddr | null,
  listener: null as Listener | null,
  /**
   * Secret, random per process (CSPRNG): proves to the name service that a re-registration comes
   * from the process that holds the name. Sent only in Register, never published.
   */
  token: randomBytes(18).toString("base64url"),
  started: Date.now(),
};
