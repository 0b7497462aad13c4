// The chat sample on a machine with nothing else running: starts a name service (on a free
// port) and the game, prints the page's URL, and runs until Ctrl-C, which stops everything.
//   luanet samples/chat/demo.ts                 Login, Room1-3 and Gate1 in one process (world.ts)
//   luanet samples/chat/demo.ts processes       each of them in a process of its own
//   luanet samples/chat/demo.ts one 127.0.0.1:3010 127.0.0.1:3000   the gate's and the page's
//                                               addresses (these are the defaults; port 0: any)
// Open the URL in two browser tabs (or two browsers), give each a name, join the same room
// number, and chat. Build first (`npm run build`): the page loads dist/client/luanet-client.js.
// What runs where, and why two players of one room may be served by different Room members, is
// said at the top of room.ts.
import type {} from "luanet/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const luanetBin = fileURLToPath(new URL("../../bin/luanet.js", import.meta.url));
const sample = (f: string) => fileURLToPath(new URL(f, import.meta.url));

/**
 * The processes this demo starts, each in a process group of its own: a Ctrl-C in the terminal
 * reaches the demo alone, which stops them in order (the game, then the name service it
 * registers with), and a crash of the demo still kills them (the exit event).
 */
class Children {
  private readonly all: { child: ChildProcess; exited: Promise<void> }[] = [];
  private stopping = false;

  constructor() {
    process.on("exit", () => {
      for (const { child } of this.all) if (running(child)) child.kill("SIGKILL");
    });
  }

  /**
   * Start `luanet args...`; resolves with the first match of `pattern` in what it prints, within
   * 20 s. Its stderr (warnings, with LUANET_LOG_LEVEL=warn) is passed on when `echo` is set; an
   * exit the demo did not ask for ends the demo.
   */
  start(args: string[], pattern: RegExp, env: Record<string, string> = {}, echo = false) {
    const child = spawn(process.execPath, [luanetBin, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.all.push({ child, exited: new Promise((resolve) => child.once("exit", () => resolve())) });
    const what = `luanet ${args.join(" ")}`;
    const started = new Promise<RegExpExecArray>((resolve, reject) => {
      let out = "";
      let ready = false;
      const timer = setTimeout(() => reject(new Error(`${what} did not print ${pattern} within 20 s:\n${out}`)), 20_000);
      const seen = (data: Buffer) => {
        if (ready) return;
        out += data;
        const m = pattern.exec(out);
        if (m) {
          ready = true;
          clearTimeout(timer);
          resolve(m);
        }
      };
      child.stdout!.on("data", seen);
      child.stderr!.on("data", (data: Buffer) => (echo && process.stderr.write(data), seen(data)));
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (this.stopping) return;
        if (!ready) return reject(new Error(`${what} exited with ${code ?? signal}:\n${out}`));
        console.log(`${what} exited with ${code ?? signal}: the demo stops`);
        luanet.Exit(1);
      });
    });
    started.catch(() => {}); // handled: a failure is thrown where it is awaited, which may be later
    return Sche.Await(started);
  }

  /** SIGTERM the game's processes and wait (at most 5 s) until they have drained; then the
   * name service (started first), likewise. */
  *stop() {
    this.stopping = true;
    const [ns, ...game] = this.all;
    for (const group of [game, ns ? [ns] : []]) {
      for (const { child } of group) if (running(child)) child.kill();
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
      yield* Sche.Await(Promise.race([Promise.all(group.map((c) => c.exited)), timeout]));
    }
  }
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

export default function* (mode = "one", ws = "127.0.0.1:3010", http = "127.0.0.1:3000") {
  if (mode !== "one" && mode !== "processes") throw new TypeError(`usage: luanet samples/chat/demo.ts [one|processes] [ws-addr] [http-addr], got ${JSON.stringify(mode)}`);
  const children = new Children();
  try {
    const [, ns] = yield* children.start(["nameservice", "--listen", "127.0.0.1:0"], /nameservice listening on (\S+)/);
    const env = { LUANET_NS: ns!, LUANET_LOG_LEVEL: "warn" };
    const gateLine = /chat page on (\S+) \(gate Gate1: (\S+)\)/;
    let url: RegExpExecArray;
    if (mode === "one") {
      url = yield* children.start([sample("world.ts"), ws, http], gateLine, env, true);
      console.log(`name service on ${ns}; Login, Room1, Room2, Room3 and Gate1 run in one process (world.ts)`);
    } else {
      // All at once (each waits for what it needs when a player comes, not before).
      const starts = [
        children.start([sample("login.ts")], /Login registered/, env, true),
        ...["Room1", "Room2", "Room3"].map((room) => children.start([sample("room.ts"), room], new RegExp(`${room} joined the group Room`), env, true)),
      ];
      const gate = children.start([sample("gate.ts"), "Gate1", ws, http], gateLine, env, true);
      for (const start of starts) yield* start;
      url = yield* gate;
      console.log(`name service on ${ns}; Login, Room1, Room2, Room3 and Gate1 run in a process each`);
    }
    console.log(`chat page on ${url[1]} (players connect to ${url[2]})`);
    console.log("open it in two browser tabs, give each a name, join the same room; Ctrl-C stops everything");
    for (;;) yield* Sche.Block();
  } finally {
    yield* children.stop();
  }
}
