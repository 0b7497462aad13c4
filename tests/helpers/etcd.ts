/**
 * Small etcd clusters for tests and the benchmark: N members of Debian's `etcd` (3.4) on free
 * loopback ports, data in a fresh temp folder. Every member is started through tools/procs.ts and
 * killed by its PID; `stop()` kills them all and removes the folder (tests call it in `after`, and
 * a process exit kills whatever is left). Without an `etcd` binary, `etcdMissing` says why tests skip.
 *
 * This file imports nothing from node:test, so bench/run.ts can use it too.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProcessGroup, type Child } from "../../tools/procs.ts";

/** The etcd binary (ETCD_BIN, else `etcd` on the PATH), or null if there is none. */
export const etcdBin: string | null = (() => {
  const bin = process.env.ETCD_BIN ?? "etcd";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 10_000 });
  return r.status === 0 ? bin : null;
})();

/** Why tests that start etcd members of their own cannot run here, or false when they can. */
export const etcdMissing: string | false = etcdBin !== null ? false
  : process.env.ETCD_BIN !== undefined ? `ETCD_BIN=${process.env.ETCD_BIN} does not run (\`$ETCD_BIN --version\` failed)`
  : "no etcd binary on the PATH (apt-get install etcd-server, or set ETCD_BIN); .ci/run installs it";

/**
 * Why tests that only need some etcd (the cluster LUANET_TEST_ETCD names, else one they start)
 * cannot run here, or false when they can.
 */
export const etcdUnavailable: string | false = process.env.LUANET_TEST_ETCD ? false
  : etcdMissing && `LUANET_TEST_ETCD is not set, and ${etcdMissing.replace(/^no /, "there is no ")}`;

const group = new ProcessGroup({ maxOutput: 20_000 });

/** `n` distinct free TCP ports on 127.0.0.1 (held open together, so they differ, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class EtcdMember {
  child: Child | null = null;
  constructor(readonly name: string, readonly clientPort: number, readonly peerPort: number, readonly dataDir: string, private readonly cluster: string, private readonly token: string) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }
  /** Started and not killed on purpose: if it is not running, it failed. */
  get wanted(): boolean {
    return this.child !== null && !this.child.stopping;
  }
  get running(): boolean {
    return this.child !== null && this.child.running;
  }
  /** The newest part of what the running (or last) process printed. */
  get output(): string {
    return this.child === null ? "" : this.child.stdout + this.child.stderr;
  }

  /** Start (or restart, on its existing data) this member. */
  start(): void {
    if (this.running) return;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.child = group.start(etcdBin!, [
      "--name", this.name, "--data-dir", this.dataDir,
      "--listen-client-urls", this.endpoint, "--advertise-client-urls", this.endpoint,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", this.cluster, "--initial-cluster-state", "new", "--initial-cluster-token", this.token,
      // etcd's own timing (a heartbeat every 100 ms, an election after 1 s without one).
      "--heartbeat-interval", "100", "--election-timeout", "1000",
      "--log-level", "warn", "--logger", "zap",
    ], { label: `etcd member ${this.name}` });
  }

  /** Kill this member by PID (SIGKILL unless told otherwise) and wait, bounded, until it is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (child === null) return;
    child.stopping = true;
    if (!this.running) return;
    child.child.kill(signal);
    // A member that ignores `signal` for 5 s is killed outright, so the wait is bounded.
    await child.exited(5000).catch(() => child.kill9());
  }

  /** Whether this member answers /health with a leader elected. */
  async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      return ((await res.json()) as { health?: string }).health === "true";
    } catch {
      return false;
    }
  }
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** "http://127.0.0.1:p1,http://127.0.0.1:p2,..." */
  /** The registry address luanet takes: "etcd://127.0.0.1:p1,127.0.0.1:p2,..." */
  url: string;
  /** Wait (bounded) until the running members all answer healthy. */
  ready(ms?: number): Promise<void>;
  /** Kill every member by PID and remove the data. */
  stop(): Promise<void>;
}

/**
 * Start an `n`-member cluster and wait (bounded) until it has a leader. A port taken between
 * choosing it and etcd binding it makes a member exit: then it starts over on new ports (3 tries).
 */
export async function startEtcd(n = 3, ms = 20_000): Promise<EtcdCluster> {
  if (etcdBin === null) throw new Error(etcdMissing as string);
  for (let attempt = 1; ; attempt++) {
    try {
      return await tryStartEtcd(n, ms);
    } catch (error) {
      if (attempt === 3 || !/exited/.test((error as Error).message)) throw error;
    }
  }
}

async function tryStartEtcd(n: number, ms: number): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), "luanet-etcd-"));
  const ports = await freePorts(2 * n);
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const initial = names.map((name, i) => `${name}=http://127.0.0.1:${ports[n + i]}`).join(",");
  const members = names.map((name, i) => new EtcdMember(name, ports[i]!, ports[n + i]!, join(dir, name), initial, dir));
  const cluster: EtcdCluster = {
    members,
    url: "etcd://" + members.map((m) => `127.0.0.1:${m.clientPort}`).join(","),
    async ready(wait = ms) {
      const deadline = Date.now() + wait;
      for (;;) {
        const failed = members.find((m) => m.wanted && !m.running);
        if (failed !== undefined) throw new Error(`etcd member ${failed.name} exited:\n${failed.output.slice(-2000)}`);
        const running = members.filter((m) => m.running);
        if (running.length > 0 && (await Promise.all(running.map((m) => m.healthy()))).every(Boolean)) return;
        if (Date.now() > deadline) {
          throw new Error(`etcd was not healthy within ${wait} ms:\n${members.map((m) => `${m.name}: ${m.output.slice(-2000)}`).join("\n")}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await Promise.all(members.map((m) => m.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const m of members) m.start();
  try {
    await cluster.ready(ms);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
