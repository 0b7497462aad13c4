/**
 * Who a service started from a cluster file is (`luanet.instance`): its name (`Room-2`), its
 * index among the instances of its entry (2), and the group every instance joins (or null).
 * `luanet up` hands it to a process in LUANET_INSTANCE (one service) or LUANET_PROCESS_SERVICES
 * (several sharing a process), as JSON; a service started by hand has none.
 * @internal
 */
import { describe } from "../errors.js";
import { badName } from "../names.js";

export interface Instance {
  readonly name: string;
  readonly index: number;
  readonly group: string | null;
}

/** `value` checked as an Instance (frozen), or a TypeError naming `where`. */
export function checkInstance(value: unknown, where: string): Instance {
  const v = value as Partial<Instance> | null;
  if (typeof v !== "object" || v === null) throw new TypeError(`${where} must be an object { name, index, group }, got ${describe(value)}`);
  const name = badName(v.name);
  if (name !== null) throw new TypeError(`${where}.name: ${name}`);
  if (!Number.isInteger(v.index) || v.index! < 1) throw new TypeError(`${where}.index must be a whole number from 1, got ${describe(v.index)}`);
  const group = v.group ?? null;
  if (group !== null && badName(group) !== null) throw new TypeError(`${where}.group: ${badName(group)}`);
  return Object.freeze({ name: v.name!, index: v.index!, group });
}

/** The instance LUANET_INSTANCE names, or null when it is not set. */
export function instanceFromEnv(env: NodeJS.ProcessEnv): Instance | null {
  const text = env.LUANET_INSTANCE;
  if (text === undefined || text === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`LUANET_INSTANCE must be JSON { name, index, group }: ${(error as Error).message}`);
  }
  return checkInstance(value, "LUANET_INSTANCE");
}
