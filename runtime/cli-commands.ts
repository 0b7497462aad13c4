/**
 * The `luanet` command line, parsed with commander: every command and option (cli.ts runs a plain
 * `luanet script.ts` without loading this). Parsing only; the work is elsewhere.
 *
 *   luanet [--ns ADDR | --registry ADDR] <script> [args...]   run a service script
 *   luanet nameservice [--listen ADDR]      run the name service
 *   luanet ls | call | send | reload        talk to a running cluster
 * @internal
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { parseAddr, type NetAddr } from "../stdlib/net.js";
import {
  applyLogOptions, applyRegistry, applySecurity, DEFAULT_LOG_DIR, DEFAULT_LOG_LEVEL, runScript,
  type LogFlags, type RegistryFlags, type ScriptFlags, type SecurityFlags,
} from "./cli-apply.js";
import { setLogSource, type Level } from "./log.js";
import { version } from "./package-info.js";
import { DEFAULT_NAMESERVICE } from "./registry/nameservice.js";
import { describeSpec, parseRegistry, type RegistrySpec } from "./registry/select.js";
import type { Instruction } from "./scheduler/instruction.js";
import { awaitPromise } from "./scheduler/promise.js";
import { startBuiltin } from "./start.js";
import type { CallFlags } from "./tools.js";
import type { ClusterToolFlags } from "./cluster/tools.js";
import { parseScale } from "./cluster/scale.js";
import type { StatsFlags, TasksFlags } from "./stats/tools.js";
import { SORT_KEYS, type SortKey } from "./stats/rates.js";
import type { TopFlags } from "./stats/top.js";
import type { DashboardFlags } from "./stats/dashboard.js";
import { DEFAULT_LIMIT, MAX_LIMIT } from "./stats/tasks.js";
import { STATS_FUNCTION, TASKS_FUNCTION } from "./service/reserved.js";

const DEFAULT_DASHBOARD = "127.0.0.1:8080";

/**
 * A built-in program (the name service, a tool, the supervisor) whose module is imported only when
 * it runs: `luanet script.ts` then loads none of them (some 25 modules, node:http, child_process).
 * @example startBuiltin("luanet ls", later(import("./tools.js"), (m) => m.ls()), true)
 */
function later<M>(module: Promise<M>, run: (m: M) => Generator<Instruction, unknown, unknown>): () => Generator<Instruction, unknown, unknown> {
  return function* () {
    return yield* run(yield* awaitPromise(module));
  };
}
const tools = () => import("./tools.js");
const clusterTools = () => import("./cluster/tools.js");
const statsTools = () => import("./stats/tools.js");

/** Usage errors exit 2, as in most Unix tools; a script that cannot start exits 1. */
const EXIT_USAGE = 2;

/** A parser for commander: what `parse` throws becomes a usage error naming the option. */
function argParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

const addrArg = argParser(parseAddr);
const registryArg = argParser((value): RegistrySpec | "" => (value === "" ? "" : parseRegistry(value))); // LUANET_REGISTRY= : no choice

/** Either flag, given (or its variable set), holds whatever address a script registers at;
 * --registry wins over --ns. */
const nsOption = () => new Option("--ns <addr>", `the name service: host:port, [v6]:port or unix:/path (default: ${DEFAULT_NAMESERVICE})`)
  .env("LUANET_NS").argParser(addrArg);

const registryOption = () => new Option("--registry <addr>", "the registry: etcd://host:port[,host:port...][/prefix], or a name service address as for --ns")
  .env("LUANET_REGISTRY").argParser(registryArg);

/**
 * The logging options every command takes. A tool (`ls`, `call`, `send`) prints its answer and
 * nothing else: it logs warnings and errors only and to no file, unless its own flags say
 * otherwise (LUANET_LOG_LEVEL and LUANET_LOG_DIR, set for a cluster's services, are not read).
 */
function withLogOptions(command: Command, kind: "service" | "tool" = "service"): Command {
  const level = new Option("--log-level <level>", "the least severe level logged").choices(["debug", "info", "warn", "error"]);
  const dir = new Option("--log-dir <dir>", kind === "tool" ? "write a log file in this folder" : "where log files go, one per service");
  return command
    .addOption(kind === "tool" ? level.default("warn") : level.env("LUANET_LOG_LEVEL").default(DEFAULT_LOG_LEVEL))
    .addOption(kind === "tool" ? dir : dir.env("LUANET_LOG_DIR").default(DEFAULT_LOG_DIR))
    .option("--no-log-file", "log to the console only")
    .addOption(new Option("-q, --quiet", kind === "tool" ? "log nothing on the console (the answer is still printed)" : "log to the file only, nothing on the console").env("LUANET_QUIET"));
}

/** The security options every command takes. The secret itself is never an argument: other
 * users can read a process's command line. */
function withSecurityOptions(command: Command): Command {
  return command
    .addOption(new Option("--secret-file <path>", "the cluster secret: every link must prove it knows it").env("LUANET_SECRET_FILE"))
    .addOption(new Option("--tls-cert <pem>", "this process's TLS certificate (TCP links use TLS)").env("LUANET_TLS_CERT"))
    .addOption(new Option("--tls-key <pem>", "the key of --tls-cert").env("LUANET_TLS_KEY"))
    .addOption(new Option("--tls-ca <pem>", "the CA that signs every member's certificate").env("LUANET_TLS_CA"));
}

function timeoutArg(value: string): number {
  const ms = Number(value);
  if (!(ms > 0)) throw new InvalidArgumentError("it must be a positive number of milliseconds.");
  return ms;
}

function limitArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new InvalidArgumentError(`it must be a whole number from 1 to ${MAX_LIMIT}.`);
  return n;
}

/** Parse the command line with commander and run what it says. `unit`: LUANET_UNIT, which unit
 * of a `luanet up` this process is. */
export function parseCommandLine(argv: readonly string[], unit: string | undefined): void {
  const program = buildProgram(unit);
  try {
    program.parse(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    throw error;
  }
}

/** The whole command line as a commander program (its actions run what they say). */
export function buildProgram(unit: string | undefined): Command {
  const program = new Command("luanet")
    .description("Run a luanet service script: a cooperative task world with the luanet and Sche globals.")
    .version(version, "-V, --version", "print the luanet version")
    .helpOption("-h, --help", "show this help")
    .argument("<script>", "the script to run (.ts, .mts, .js or .mjs)")
    .argument("[args...]", "arguments for the script (luanet.args and process.argv)")
    .addOption(nsOption())
    .addOption(registryOption())
    .addOption(new Option("--metrics <addr>", "serve Prometheus metrics at http://<addr>/metrics (host:port; port 0 picks one)").env("LUANET_METRICS").argParser(addrArg))
    .enablePositionalOptions()
    .passThroughOptions()
    .exitOverride()
    .addHelpText("after", `
Examples:
  luanet samples/plus/server.ts
  luanet myservice.ts --port 8012     options after the script are the script's own
  luanet nameservice --listen 127.0.0.1:8010
  luanet --registry etcd://127.0.0.1:2379 samples/plus/server.ts
  luanet --metrics 127.0.0.1:9464 samples/plus/server.ts
  luanet ls
  luanet call PlusServer Plus '{"a":1,"b":2}'
  luanet reload Room
  luanet top
  luanet stats PlusServer
  luanet tasks PlusServer --stacks
  luanet dashboard --listen 127.0.0.1:8080`)
    .action((script: string, args: string[], options: ScriptFlags) => runScript(script, args, options));

  withLogOptions(program);

  withLogOptions(program.command("nameservice"))
    .description("run the name service that services register with and look each other up in")
    .addOption(new Option("--listen <addr>", "where to listen").env("LUANET_NS").default(parseAddr(DEFAULT_NAMESERVICE), DEFAULT_NAMESERVICE).argParser(addrArg))
    .action((options: { listen: NetAddr } & LogFlags & SecurityFlags) => {
      applyLogOptions(options);
      setLogSource("nameservice");
      applySecurity(options);
      startBuiltin("the name service", later(import("./nameservice/server.js"), (m) => m.nameService(options.listen)), false);
    });

  /** A tool: the logging and registry options, applied (with security's) before it runs. */
  const toolCommand = (name: string) => withLogOptions(program.command(name), "tool").addOption(nsOption()).addOption(registryOption());
  const runTool = (name: string, options: RegistryFlags & LogFlags & SecurityFlags, main: () => Generator<Instruction, unknown, unknown>) => {
    applyLogOptions(options);
    applySecurity(options);
    applyRegistry(options);
    startBuiltin(`luanet ${name}`, main, true);
  };

  withLogOptions(program.command("up"))
    .description("run the services of a cluster file on this host, restart them when they crash, stop them in order on Ctrl-C")
    .argument("[file]", "the cluster file (default: luanet.cluster.json, .ts, .mts, .js or .mjs here)")
    .addOption(registryOption())
    .addOption(new Option("--host <name>", "this host's name in the cluster (one supervisor per host name)").env("LUANET_HOST"))
    .addOption(new Option("--listen <addr>", "where the supervisor listens for the tools (default 127.0.0.1, any port)").argParser(addrArg))
    .option("--watch", "reload a service into its running process when its script or a file it imports changes")
    .action((file: string | undefined, options: RegistryFlags & LogFlags & SecurityFlags & { host?: string; listen?: NetAddr; watch?: boolean }, command: Command) => {
      // The supervisor says what it does in its `up |` lines: its own log shows warnings and
      // errors unless --log-level asks for more (LUANET_LOG_LEVEL is for the services).
      applyLogOptions({ ...options, logLevel: command.getOptionValueSource("logLevel") === "cli" ? options.logLevel : "warn" });
      setLogSource("up");
      applySecurity(options);
      const registry = options.registry ? { spec: options.registry, text: describeSpec(options.registry) } : undefined;
      startBuiltin("luanet up", later(import("./cluster/up.js"), (m) => m.up(file, { host: options.host, listen: options.listen, registry, watch: options.watch })), false);
    });

  program.command("run-services", { hidden: true })
    .description("(started by luanet up) run the services of LUANET_PROCESS_SERVICES in one process")
    .action(() => {
      applyLogOptions({ logLevel: (process.env.LUANET_LOG_LEVEL as Level | undefined) ?? "info", logDir: process.env.LUANET_LOG_DIR ?? "logs", logFile: true, quiet: process.env.LUANET_QUIET !== undefined });
      setLogSource(unit ?? "run-services"); // its process name: logs/<name>.log
      applySecurity({});
      startBuiltin("luanet run-services", later(import("./cluster/run-services.js"), (m) => m.runServices()), false);
    });

  toolCommand("ls")
    .description("list the services registered with the name service (or etcd)")
    .action((options: RegistryFlags & LogFlags & SecurityFlags) => runTool("ls", options, later(tools(), (m) => m.ls())));

  toolCommand("call")
    .description("call a function of a service and print the result as JSON")
    .argument("<service>").argument("<func>").argument("[json]", "the arguments, as JSON")
    .option("--timeout <ms>", "the call's deadline", timeoutArg)
    .option("-v, --verbose", "if the call fails, print the remote stack too")
    .action((service: string, func: string, json: string | undefined, options: RegistryFlags & LogFlags & CallFlags & SecurityFlags) =>
      runTool("call", options, later(tools(), (m) => m.callTool(service, func, json, options))));

  toolCommand("send")
    .description("send a one-way message (JSON) to a service")
    .argument("<service>").argument("<json>", "the message, as JSON")
    .action((service: string, json: string, options: RegistryFlags & LogFlags & SecurityFlags) => runTool("send", options, later(tools(), (m) => m.sendTool(service, json))));

  /** A tool that acts through the supervisors (cluster/tools.ts). */
  const clusterCommand = (name: string) => toolCommand(name)
    .option("--host <name>", "only the supervisor of this host")
    .option("--timeout <ms>", "how long each supervisor may take", timeoutArg);
  type ClusterFlags = RegistryFlags & LogFlags & SecurityFlags & ClusterToolFlags;

  clusterCommand("ps")
    .description("list every service of the clusters the supervisors (luanet up) run: pid, host, status, restarts, uptime, CPU, memory")
    .action((options: ClusterFlags) => runTool("ps", options, later(clusterTools(), (m) => m.ps(options))));
  for (const [name, func, text] of [
    ["restart", "Restart", "restart a service, or a group's or entry's services one at a time, each drained, the next once the new one is registered"],
    ["stop", "Stop", "drain and stop a service (or a group's, an entry's services); it stays down until luanet start"],
    ["start", "Start", "start a stopped service again (or one left down after crashing)"],
  ] as const) {
    clusterCommand(name).description(text).argument("<target>", "a service, group, cluster file entry or process name")
      .action((target: string, options: ClusterFlags) => runTool(name, options, later(clusterTools(), (m) => m.act(func, { target }, options))));
  }
  clusterCommand("scale")
    .description("run COUNT instances of a cluster file entry: Room=5")
    .argument("<service=count>", "the entry and how many instances", argParser(parseScale))
    .action((scale: { service: string; count: number }, options: ClusterFlags) => runTool("scale", options, later(clusterTools(), (m) => m.act("Scale", scale, options))));
  toolCommand("reload")
    .description("hot reload a service's script, or each member of a group in turn, into the running process")
    .argument("<target>", "a service or a group")
    .option("--timeout <ms>", "each reload's deadline", timeoutArg)
    .action((target: string, options: RegistryFlags & LogFlags & SecurityFlags & { timeout?: number }) => runTool("reload", options, later(tools(), (m) => m.reloadTool(target, options))));

  /** A tool that asks one service (or each member of a group) a reserved function. */
  const askCommand = (name: string, func: string) => toolCommand(name)
    .argument("<target>", "a service or a group (each member in turn)")
    .option("--json", `print the ${func} document (docs/protocol.md)`)
    .option("--timeout <ms>", "the deadline of each service's answer", timeoutArg);
  askCommand("stats", STATS_FUNCTION)
    .description("a service's counters: per function calls, errors by code and latency; per peer calls and bytes; mailbox, handlers, tasks, memory, event-loop delay")
    .action((target: string, options: RegistryFlags & LogFlags & SecurityFlags & StatsFlags) => runTool("stats", options, later(statsTools(), (m) => m.statsTool(target, options))));
  askCommand("tasks", TASKS_FUNCTION)
    .description("a service's live tasks: id, name, state, what each waits on and for how long, the longest waiting first")
    .option("--stacks", "where each task was spawned (recorded from now on for a minute: ask again to see the tasks spawned since)")
    .option("--limit <n>", `at most this many tasks (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`, limitArg)
    .action((target: string, options: RegistryFlags & LogFlags & SecurityFlags & TasksFlags) => runTool("tasks", options, later(statsTools(), (m) => m.tasksTool(target, options))));
  toolCommand("top")
    .description("every registered service, one row each, refreshed every second: calls/s, errors/s, p99, in flight, mailbox, tasks, CPU, rss, event-loop delay")
    .option("--once", "sample twice, an interval apart, print one table and exit (what it does when stdout is not a terminal)")
    .option("--json", "like --once, but print one JSON document")
    .addOption(new Option("--sort <key>", "the column to sort by, highest first").choices(SORT_KEYS).default("calls"))
    .option("--interval <ms>", "between samples", timeoutArg)
    .option("--timeout <ms>", "how long each service may take to answer (default: the interval, at most 2000)", timeoutArg)
    .action((options: RegistryFlags & LogFlags & SecurityFlags & TopFlags & { sort: SortKey }) => runTool("top", options, later(import("./stats/top.js"), (m) => m.top(options))));

  toolCommand("dashboard")
    .description("serve a web page showing the cluster live: who calls whom, each service's numbers as charts, its tasks on click")
    .addOption(new Option("--listen <addr>", "where to serve the page (host:port; port 0 picks one)").default(parseAddr(DEFAULT_DASHBOARD), DEFAULT_DASHBOARD).argParser(addrArg))
    .option("--interval <ms>", "between samples", timeoutArg)
    .option("--timeout <ms>", "how long each service may take to answer (default: the interval, at most 2000)", timeoutArg)
    .action((options: RegistryFlags & LogFlags & SecurityFlags & DashboardFlags) => runTool("dashboard", options, later(import("./stats/dashboard.js"), (m) => m.dashboard(options))));

  for (const command of [program, ...program.commands]) withSecurityOptions(command).exitOverride();
  // `luanet --ns X ls` as `luanet ls --ns X`: an option given before the subcommand counts for it,
  // unless the subcommand was given its own.
  program.hook("preAction", (_, action) => {
    if (action === program) return;
    for (const [key, value] of Object.entries(program.opts())) {
      if (program.getOptionValueSource(key) === "cli" && action.getOptionValueSource(key) !== "cli" && action.options.some((o) => o.attributeName() === key)) {
        action.setOptionValueWithSource(key, value, "cli");
      }
    }
  });
  return program;
}
