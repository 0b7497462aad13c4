/**
 * Registries compared in one run: the built-in name service and a three-member etcd cluster
 * (Debian's etcd, on free loopback ports), each holding the same services. Measures look-ups per
 * second, GetRemoteFuncProvider per second, and the time to a first call to a new name. Every
 * process is started through tools/procs.ts (etcd's by tests/helpers/etcd.ts) and killed by PID.
 */
import { fileURLToPath } from "node:url";
import { etcdMissing, startEtcd, type EtcdCluster } from "../tests/helpers/etcd.ts";
import { median, run, startAndWait, stopAll as stopProcesses } from "./rpc.ts";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const luanet = here("../bin/luanet.js");

export { etcdMissing };

/** Start luanet with `args`; resolves with the first match of `pattern` in its output. */
const start = (args: string[], pattern: RegExp, env: NodeJS.ProcessEnv) => startAndWait([luanet, ...args], pattern, env);

const client = <T>(env: NodeJS.ProcessEnv, args: string[]): Promise<T> => run<T>([luanet, here("registry-client.mts"), ...args], env);

export interface RegistryFigures {
  lookups: number;
  providers: number;
  /** Median ms to a first call, in a fresh process (cold) and with the registry connected (warm). */
  cold: number;
  warm: number;
}

/** `names` servers registered with a name service and with etcd; the env that selects each. */
export async function registries(names: string[]): Promise<{ ns: NodeJS.ProcessEnv; etcd: NodeJS.ProcessEnv; cluster: EtcdCluster }> {
  const quiet = { LUANET_LOG_LEVEL: "warn", LUANET_LOG_DIR: "/tmp" };
  const [, port] = await start(["nameservice", "--listen", "127.0.0.1:0"], /nameservice listening on 127\.0\.0\.1:(\d+)/, {});
  const ns = { ...quiet, LUANET_NS: `127.0.0.1:${port}` };
  const cluster = await startEtcd(3);
  const etcd = { ...quiet, LUANET_REGISTRY: cluster.url };
  await Promise.all(names.flatMap((name) => [
    start([here("named-server.ts"), name], /registered with the name service/, { ...ns, LUANET_LOG_LEVEL: "info" }),
    start([here("named-server.ts"), name], /registered in etcd/, { ...etcd, LUANET_LOG_LEVEL: "info" }),
  ]));
  return { ns, etcd, cluster };
}

/** Measure one registry once: look-ups, providers and first calls (the caller alternates registries and rounds). */
export async function measure(env: NodeJS.ProcessEnv, names: string[], seconds: number): Promise<RegistryFigures> {
  const lookups = (await client<{ rate: number }>(env, ["lookups", String(seconds), names[0]!])).rate;
  const providers = (await client<{ rate: number }>(env, ["providers", String(seconds), "Plus"])).rate;
  const first = await client<{ cold: number; warm: number[] }>(env, ["first-calls", ...names]);
  return { lookups, providers, cold: first.cold, warm: median(first.warm) };
}

export async function stopAll(cluster: EtcdCluster): Promise<void> {
  await stopProcesses();
  await cluster.stop();
}
