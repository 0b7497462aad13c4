/**
 * What processes a cluster file makes: one per instance, except that entries with the same
 * `process` share one (started through `luanet run-services`, which starts each with
 * NewService). Each process is a UnitSpec (unit.ts); `stage` is the entry it starts with, so
 * the units of one entry start together and the entries in the file's order.
 * @internal
 */
import { dirname } from "node:path";
import { instanceNames, type ClusterFile, type ServiceEntry } from "./file.js";
import type { Member, UnitSpec } from "./unit.js";

export interface Planned extends UnitSpec {
  /** The index of the entry it starts with, in the file's order. */
  readonly stage: number;
}

export interface PlanContext {
  /** bin/luanet.js of this luanet. */
  readonly cli: string;
  /** Handed to every service: the registry, the host name, and what `luanet up` was told. */
  readonly env: Readonly<Record<string, string>>;
}

/** The units of `file`, with `counts` instances of the scalable entries it names (else the file's). */
export function plan(file: ClusterFile, counts: ReadonlyMap<string, number>, context: PlanContext): Planned[] {
  const cwd = dirname(file.path);
  const units: Planned[] = [];
  const shared = new Map<string, { stage: number; members: { entry: ServiceEntry; member: Member }[] }>();
  file.services.forEach((entry, stage) => {
    const names = instanceNames(entry, counts.get(entry.key) ?? entry.instances ?? 1);
    const members = names.map((name, i) => ({ entry, member: { name, key: entry.key, script: entry.script, instance: { name, index: i + 1, group: entry.group } } }));
    if (entry.process === null) {
      for (const { member } of members) units.push(single(entry, member, stage, cwd, context));
      return;
    }
    const group = shared.get(entry.process);
    if (group === undefined) shared.set(entry.process, { stage, members });
    else group.members.push(...members);
  });
  for (const [id, { stage, members }] of shared) {
    const env = Object.assign({}, ...members.map(({ entry }) => entry.env)) as Record<string, string>;
    const list = members.map(({ entry, member }) => ({ script: entry.script, args: entry.args, instance: member.instance }));
    units.push({
      id, stage, cwd, members: members.map(({ member }) => member), argv: [context.cli, "run-services"],
      env: { ...context.env, ...env, LUANET_PROCESS_SERVICES: JSON.stringify(list) }, ready: "pipe",
    });
  }
  return units.sort((a, b) => a.stage - b.stage);
}

function single(entry: ServiceEntry, member: Member, stage: number, cwd: string, context: PlanContext): Planned {
  return {
    id: member.name, stage, cwd, members: [member], argv: [context.cli, entry.script, ...entry.args],
    env: { ...context.env, ...entry.env, LUANET_INSTANCE: JSON.stringify(member.instance) }, ready: "pipe",
  };
}
