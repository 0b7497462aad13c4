/**
 * The cluster file `luanet up` reads (`luanet.cluster.json`, or a .ts/.mts/.js/.mjs module whose
 * default export is the same object), checked field by field: an error names the field.
 *
 *   { "registry": "127.0.0.1:8010",                     a name service address, or etcd://...
 *     "services": {
 *       "Login": { "script": "login.ts" },
 *       "Room":  { "script": "room.ts", "instances": 3, "group": "Room", "process": "rooms" },
 *       "Lobby": { "script": "lobby.ts", "args": ["--max", "500"], "env": { "LOBBY_MODE": "fast" } } } }
 *
 * Services start in the file's order. An entry with `instances` (or a `group`) is scalable: its
 * instances are named `Room-1`..`Room-N`; one without is a single service named as its key.
 * `"name": "Room-{host}-{index}"` names them otherwise: `{host}` is the supervisor's host name,
 * so one file serves every host of a cluster without two hosts starting the same name.
 * @internal
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describe, isInstance, LuanetError } from "../errors.js";
import { badName } from "../names.js";
import { DEFAULT_NAMESERVICE } from "../registry/nameservice.js";
import { parseRegistry, type RegistrySpec } from "../registry/select.js";

/** How long a cluster file that is a module may take to load. */
const LOAD_MS = 10_000;

/** Instances one entry may have. */
export const MAX_INSTANCES = 1000;

/** One entry of `services`, checked; `script` is absolute. */
export interface ServiceEntry {
  readonly key: string;
  readonly script: string;
  /** Null: a single service; a number: that many instances. */
  readonly instances: number | null;
  /** What its instances are named, `{index}` standing for 1..N (`{host}` is replaced already):
   * "Room-{index}" for a scalable entry, "Login" for a single one, by default. */
  readonly name: string;
  readonly group: string | null;
  /** Entries with the same value share one process; null: a process of its own per instance. */
  readonly process: string | null;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export interface ClusterFile {
  /** The file, absolute: scripts and the services' working folder are relative to its folder. */
  readonly path: string;
  readonly registry: RegistrySpec;
  /** The registry address as written (handed to the services in LUANET_REGISTRY). */
  readonly registryText: string;
  readonly services: readonly ServiceEntry[];
}

/** The file is missing or wrong: the message names the file and the field. */
export class ClusterFileError extends LuanetError {
  constructor(message: string) {
    super("bad_config", message);
  }
}

/** The names tried, in order, when `luanet up` is given no file. */
export const DEFAULT_FILES = ["luanet.cluster.json", "luanet.cluster.ts", "luanet.cluster.mts", "luanet.cluster.js", "luanet.cluster.mjs"];

/** The cluster file to use: `given`, or the first default name found in `cwd`. */
export function findClusterFile(given: string | undefined, cwd = process.cwd()): string {
  if (given !== undefined) {
    const path = resolve(cwd, given);
    if (!existsSync(path) || !statSync(path).isFile()) throw new ClusterFileError(`cannot find the cluster file ${JSON.stringify(given)} (no file at ${path})`);
    return path;
  }
  const found = DEFAULT_FILES.map((name) => resolve(cwd, name)).find((path) => existsSync(path));
  if (found === undefined) throw new ClusterFileError(`no cluster file here (${cwd}): name one (luanet up path/to/luanet.cluster.json) or create ${DEFAULT_FILES[0]}`);
  return found;
}

/** Read and check the cluster file at `path` for the host `host`; `load` imports a module (the script loader). */
export async function readClusterFile(path: string, host: string, load: (file: string) => Promise<{ default?: unknown }>): Promise<ClusterFile> {
  let value: unknown;
  if (path.endsWith(".json")) {
    try {
      value = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      throw new ClusterFileError(`${path} is not valid JSON: ${(error as Error).message}`);
    }
  } else {
    let timer: NodeJS.Timeout | undefined;
    // The timer also holds the process open: a top-level await that never settles is an error, not an exit.
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ClusterFileError(`${path} did not finish loading within ${LOAD_MS / 1000} s (a top-level await that never settles?)`)), LOAD_MS)));
    let exports: { default?: unknown };
    try {
      exports = await Promise.race([load(path), late]);
    } catch (error) {
      if (isInstance(error, LuanetError)) throw error; // names the file already (a syntax error, the timeout)
      throw new ClusterFileError(`${path} threw while loading: ${(error as Error)?.message ?? String(error)}`);
    } finally {
      clearTimeout(timer);
    }
    // `export default { ... }`, or CommonJS's `module.exports = { ... }`.
    value = exports?.default ?? (typeof exports === "object" && exports !== null && "services" in exports ? exports : undefined);
    if (value === undefined) throw new ClusterFileError(`${path} has no default export: export the cluster object as default (export default { services: { ... } })`);
  }
  return checkClusterFile(value, path, host);
}

const TOP_FIELDS = new Set(["registry", "services"]);
const ENTRY_FIELDS = new Set(["script", "instances", "group", "process", "args", "env", "name"]);

/** `value` checked as the cluster file at `path`, read on the host `host` (its `{host}` names). */
export function checkClusterFile(value: unknown, path: string, host: string): ClusterFile {
  const bad = (field: string, problem: string): never => {
    throw new ClusterFileError(`${path}: ${field} ${problem}`);
  };
  if (!isObject(value)) bad("the file", `must hold an object { registry, services }, got ${describe(value)}`);
  const top = value as Record<string, unknown>;
  for (const field of Object.keys(top)) if (!TOP_FIELDS.has(field)) bad(field, `is not a field of a cluster file (it has ${[...TOP_FIELDS].join(", ")})`);
  const registryText = top.registry ?? DEFAULT_NAMESERVICE;
  if (typeof registryText !== "string") bad("registry", `must be a string such as "127.0.0.1:8010" or "etcd://127.0.0.1:2379", got ${describe(registryText)}`);
  let registry!: RegistrySpec;
  try {
    registry = parseRegistry(registryText as string);
  } catch (error) {
    bad("registry", (error as Error).message);
  }
  if (!isObject(top.services) || Object.keys(top.services as object).length === 0) bad("services", `must be an object with at least one service, got ${describe(top.services)}`);
  const folder = dirname(path);
  const services: ServiceEntry[] = [];
  for (const [key, raw] of Object.entries(top.services as Record<string, unknown>)) {
    const at = `services.${key}`;
    const problem = badName(key);
    if (problem !== null) bad(at, `is not a service name: ${problem}`);
    if (key.startsWith("luanet.")) bad(at, "is not a service name: names beginning luanet. are luanet's own");
    if (!isObject(raw)) bad(at, `must be an object { script, ... }, got ${describe(raw)}`);
    const entry = raw as Record<string, unknown>;
    for (const field of Object.keys(entry)) if (!ENTRY_FIELDS.has(field)) bad(`${at}.${field}`, `is not a field of a service (it has ${[...ENTRY_FIELDS].join(", ")})`);
    if (typeof entry.script !== "string" || entry.script === "") bad(`${at}.script`, `must be the path of a script, got ${describe(entry.script)}`);
    const script = resolve(folder, entry.script as string);
    if (!existsSync(script) || !statSync(script).isFile()) bad(`${at}.script`, `names no file: ${script}`);
    const instances = entry.instances ?? null;
    if (instances !== null && (!Number.isInteger(instances) || (instances as number) < 1 || (instances as number) > MAX_INSTANCES)) {
      bad(`${at}.instances`, `must be a whole number from 1 to ${MAX_INSTANCES}, got ${describe(instances)}`);
    }
    const group = entry.group ?? null;
    if (group !== null && (typeof group !== "string" || badName(group) !== null)) bad(`${at}.group`, `must be a group name, got ${describe(group)}`);
    const proc = entry.process ?? null;
    if (proc !== null && (typeof proc !== "string" || badName(proc) !== null)) bad(`${at}.process`, `must be a name, got ${describe(proc)}`);
    const args = entry.args ?? [];
    if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) bad(`${at}.args`, `must be an array of strings, got ${describe(args)}`);
    const env = entry.env ?? {};
    if (!isObject(env)) bad(`${at}.env`, `must be an object of strings, got ${describe(env)}`);
    for (const [name, v] of Object.entries(env as object)) {
      if (typeof v !== "string") bad(`${at}.env.${name}`, `must be a string, got ${describe(v)}`);
      if (name === "" || name.includes("=") || name.includes("\0")) bad(`${at}.env`, `has a variable name that cannot be one: ${describe(name)}`);
    }
    const count = group !== null && instances === null ? 1 : (instances as number | null);
    const pattern = entry.name ?? (count === null ? key : `${key}-{index}`);
    if (typeof pattern !== "string" || pattern === "") bad(`${at}.name`, `must be a name pattern such as "${key}-{host}-{index}", got ${describe(pattern)}`);
    if (count !== null && !(pattern as string).includes("{index}")) bad(`${at}.name`, `must hold {index}, so that its instances have names of their own, got ${describe(pattern)}`);
    if (count === null && (pattern as string).includes("{index}")) bad(`${at}.name`, `holds {index}, but the entry has no "instances"`);
    const name = (pattern as string).replaceAll("{host}", host);
    const first = name.replaceAll("{index}", String(count ?? 1));
    const sample = badName(first);
    if (sample !== null) bad(`${at}.name`, `does not make a service name: ${sample}`);
    if (first.startsWith("luanet.")) bad(`${at}.name`, `makes ${first}: names beginning luanet. are luanet's own (the supervisor is luanet.supervisor@<host>)`);
    services.push(Object.freeze({
      key, script, instances: count, name,
      group: group as string | null, process: proc as string | null, args: Object.freeze([...(args as string[])]), env: Object.freeze({ ...(env as Record<string, string>) }),
    }));
  }
  checkNames(services, bad);
  return Object.freeze({ path, registry, registryText: registryText as string, services: Object.freeze(services) });
}

/** No two instances share a name, no group is named like a service, and services sharing a
 * process agree on its environment. */
function checkNames(services: readonly ServiceEntry[], bad: (field: string, problem: string) => never): void {
  const owner = new Map<string, string>();
  for (const s of services) {
    for (const name of instanceNames(s)) {
      const other = owner.get(name);
      if (other !== undefined && other !== s.key) bad(`services.${s.key}`, `would start a service named ${name}, as services.${other} does`);
      owner.set(name, s.key);
    }
  }
  for (const s of services) {
    if (s.group !== null && owner.has(s.group)) bad(`services.${s.key}.group`, `is "${s.group}", the name of a service; a service and a group cannot share a name`);
  }
  const envOf = new Map<string, ServiceEntry>();
  for (const s of services) {
    if (s.process === null) continue;
    const first = envOf.get(s.process);
    if (first === undefined) {
      envOf.set(s.process, s);
      continue;
    }
    for (const [name, v] of Object.entries(s.env)) {
      if (name in first.env && first.env[name] !== v) bad(`services.${s.key}.env.${name}`, `differs from services.${first.key}.env.${name}, and both run in the process "${s.process}"`);
    }
  }
}

/** The names of an entry's instances, `count` of them (its file's number by default). */
export function instanceNames(s: ServiceEntry, count = s.instances ?? 1): string[] {
  return s.instances === null ? [s.name] : Array.from({ length: count }, (_, i) => s.name.replaceAll("{index}", String(i + 1)));
}

const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);
