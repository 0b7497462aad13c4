/**
 * `luanet scale`'s argument, apart from the tools so that the command line can check it without
 * loading them (cli.ts imports a tool's module only when that tool runs).
 * @internal
 */
import { describe } from "../errors.js";

/** "Room=5" -> { service: "Room", count: 5 }. */
export function parseScale(text: string): { service: string; count: number } {
  const m = /^([^=]+)=(\d+)$/.exec(text);
  if (m === null) throw new TypeError(`expected SERVICE=COUNT, such as Room=5, got ${describe(text)}`);
  return { service: m[1]!, count: Number(m[2]) };
}
