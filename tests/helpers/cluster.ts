/**
 * Small luanet clusters for tests: a name service on a free port, and service scripts written
 * into temp folders and started with LUANET_NS pointing at it. Every process is started through
 * proc.ts, so it is killed by PID when the test file ends; every wait is bounded.
 */
import { join } from "node:path";
import { fixture, runLuanet, startLuanet, type Exit, type Running } from "./proc.ts";

/** What every test script starts with: the globals' types, `net`, and `NS`, the name service. */
export const prelude = `
import type {} from "luanet/globals";
import * as net from "luanet/net";
const NS = net.parseAddr(process.env.LUANET_NS!);
void NS;
`;

export interface NameService {
  proc: Running;
  /** "127.0.0.1:<port>" (or what it listens on when started with `listen`: "unix:/path", "[::1]:<port>") */
  addr: string;
  /** The port it listens on; 0 on a UNIX socket. */
  port: number;
}

/**
 * Start `luanet nameservice` on 127.0.0.1 (port 0 unless given), or on `listen` (e.g.
 * "unix:/tmp/x/ns.sock"); resolves once it listens.
 */
export async function startNameService(options: { port?: number; listen?: string; env?: NodeJS.ProcessEnv; ms?: number } = {}): Promise<NameService> {
  const listen = options.listen ?? `127.0.0.1:${options.port ?? 0}`;
  const proc = startLuanet(["nameservice", "--listen", listen], options.env ? { env: options.env } : {});
  const m = await proc.waitFor(/nameservice listening on (\S+)[^\n]*\n/, options.ms ?? 10_000, "stderr");
  const addr = m[1]!;
  const port = addr.startsWith("unix:") ? 0 : Number(/:(\d+)$/.exec(addr)?.[1]);
  return { proc, addr, port };
}

export interface Service extends Running {
  /** The folder the script was written to. */
  dir: string;
  /** The script's path. */
  file: string;
}

export interface ScriptOptions {
  /** The script's file name (stack traces show it); default "service.ts". */
  name?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Write `source` (the prelude is prepended) into a fresh temp folder and start it with LUANET_NS=ns. */
export function launch(ns: NameService | string, source: string, options: ScriptOptions = {}): Service {
  const name = options.name ?? "service.ts";
  const dir = fixture({ [name]: prelude + source });
  const file = join(dir, name);
  const addr = typeof ns === "string" ? ns : ns.addr;
  const proc = startLuanet([file, ...(options.args ?? [])], { cwd: dir, env: { LUANET_NS: addr, ...options.env } });
  return Object.assign(proc, { dir, file });
}

/**
 * Start a service script and wait (bounded) until it has registered with the name service.
 * The script itself calls StartLocalService and Register2Name(NS).
 */
export async function startService(ns: NameService | string, source: string, options: ScriptOptions & { ms?: number } = {}): Promise<Service> {
  const svc = launch(ns, source, options);
  await svc.waitFor(/registered with the name service at /, options.ms ?? 10_000, "stderr");
  return svc;
}

/** Run a script to completion (bounded) with LUANET_NS=ns. */
export function runClient(ns: NameService | string, source: string, options: ScriptOptions & { timeoutMs?: number } = {}): Promise<Exit> {
  return launch(ns, source, options).exited(options.timeoutMs ?? 15_000);
}

/** Run a CLI tool (`ls`, `call`, `send`) against the name service, bounded. */
export function tool(ns: NameService | string, args: string[], timeoutMs = 10_000): Promise<Exit> {
  const addr = typeof ns === "string" ? ns : ns.addr;
  return runLuanet([...args, "--ns", addr], { timeoutMs });
}

/**
 * A client script that calls `target`.Plus in a loop for the number of ms given as its argument,
 * checking every result, then prints `{ ok, bad }` as its last line and exits 0.
 */
export function steadyPlusClient(target: string, timeoutMs = 3000): string {
  return `
    export default function* (ms: string) {
      let ok = 0, bad = 0;
      const until = Date.now() + Number(ms);
      while (Date.now() < until) {
        const [sum, err] = yield* luanet.RPCCall(${JSON.stringify(target)}, "Plus", { a: ok, b: 1 }, { timeout: ${timeoutMs} });
        if (err === null && sum === ok + 1) ok++; else { bad++; console.log("failed:", err?.code, err?.message); }
        yield* Sche.Sleep(5);
      }
      console.log(JSON.stringify({ ok, bad }));
      luanet.Exit(0);
    }
  `;
}

/** Poll `check` every `every` ms until it returns a non-undefined value, at most `ms`. */
export async function poll<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 10_000, every = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The last line of stdout that parses as JSON. */
export function lastJson<T = any>(stdout: string): T { // eslint-disable-line @typescript-eslint/no-explicit-any
  const lines = stdout.trim().split("\n").reverse();
  for (const line of lines) {
    try {
      return JSON.parse(line) as T;
    } catch {
      // not JSON
    }
  }
  throw new Error(`no JSON line in stdout:\n${stdout}`);
}

/**
 * A service script `name` that takes `count` messages `{ seq }` one per ms (its mailbox holds 10,
 * so senders back up), checks their order, prints `{ received: count }` and exits 0; and a
 * client script that sends them (8 KiB each), prints `{ sent: count }`, then runs `end`.
 */
export function slowReceiver(name: string, count: number, end: string): { receiver: string; sender: string } {
  return {
    receiver: `
      luanet.Configure({ mailboxLength: 10 });
      luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
      Sche.Spawn(function* () {
        for (let next = 0; next < ${count}; next++) {
          const { msg } = yield* luanet.GetMsg<{ seq: number }>();
          if (msg.seq !== next) { console.log(JSON.stringify({ outOfOrder: msg.seq, expected: next })); return luanet.Exit(1); }
          yield* Sche.Sleep(1);
        }
        console.log(JSON.stringify({ received: ${count} }));
        luanet.Exit(0);
      });
    `,
    sender: `
      export default function* () {
        const pad = "z".repeat(8192);
        for (let seq = 0; seq < ${count}; seq++) {
          const err = yield* luanet.SendMsg(${JSON.stringify(name)}, { seq, pad });
          if (err !== null) { console.log(JSON.stringify({ seq, code: err.code })); return luanet.Exit(1); }
        }
        console.log(JSON.stringify({ sent: ${count} }));
        ${end}
      }
    `,
  };
}
