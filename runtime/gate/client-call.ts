/**
 * A client's request as it reaches the service that answers it: the gate calls the reserved
 * function `luanet.client` with `{ f, a, s }` (the function, its arguments, the session), and the
 * callee's dispatcher (service/dispatch.ts) runs `f` only if it was registered with
 * luanet.RegClientFunction, with `ctx.session` set. A name that is not allow-listed is answered
 * as one that does not exist (`no_such_function`), so a client cannot probe for internal ones.
 *
 * The session is what the gate says it is: gates are members of the cluster (with its secret,
 * when one is set), trusted as any member is; clients never speak this protocol.
 * @internal
 */
import { badName } from "../names.js";
import type { ClientSession } from "./session.js";

export const CLIENT_FUNCTION = "luanet.client";

const isUid = (x: unknown): boolean => x === null || typeof x === "string" || (typeof x === "number" && Number.isFinite(x));

/** `{ f, a, s }` checked, or why it is not one. */
export function unwrapClientCall(args: unknown): { f: string; a: unknown; s: ClientSession } | string {
  if (typeof args !== "object" || args === null) return `${CLIENT_FUNCTION} takes { f, a, s }`;
  const { f, a, s } = args as Record<string, unknown>;
  if (typeof f !== "string" || badName(f) !== null) return `${CLIENT_FUNCTION}: f must be a function name`;
  if (typeof s !== "object" || s === null) return `${CLIENT_FUNCTION}: s must be the session { id, uid, gate, data }`;
  const { id, uid, gate, data } = s as Record<string, unknown>;
  if (typeof id !== "string" || typeof gate !== "string" || !isUid(uid) || typeof data !== "object" || data === null || Array.isArray(data)) {
    return `${CLIENT_FUNCTION}: s must be the session { id: text, uid: text, number or null, gate: text, data: map }`;
  }
  return { f, a: a ?? null, s: Object.freeze({ id, uid: uid as ClientSession["uid"], gate, data: Object.freeze(data as Record<string, unknown>) }) };
}
