/**
 * The logger, observed from outside (issue 5): each test runs the real luanet binary on a small
 * script in a temporary folder (the working directory, so `logs/` lands there) and reads back
 * the log files and the console.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fixture, luanetBin, runLuanet, startLuanet, startProcess, type Exit } from "./helpers/proc.ts";

/** `<ISO time> <LEVEL padded to 5> <name>[<pid>] <message>` */
const head = (name: string, level = "(?:DEBUG|INFO |WARN |ERROR)") =>
  `\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ${level} ${name}\\[\\d+\\] `;

const BURST = 100_000;
const burst = (n: number) => `for (let i = 0; i < ${n}; i++) luanet.log.info(\`line \${i}\`, { i });`;

/** The numbers of the `line <i> i=<i>` entries of a log file's text, in file order. */
function lineNumbers(text: string, name: string): number[] {
  const re = new RegExp(`^${head(name, "INFO ")}line (\\d+) i=(\\d+)$`, "gm");
  const out: number[] = [];
  for (const m of text.matchAll(re)) {
    assert.equal(m[1], m[2], `a line whose message and field disagree: ${m[0]}`);
    out.push(Number(m[1]));
  }
  return out;
}

/** Fails with the first place `got` differs from from..to-1 (no 100,000-element diffs). */
function assertRange(got: number[], from: number, to: number, what: string): void {
  for (let k = 0; k < Math.max(got.length, to - from); k++) {
    if (got[k] !== from + k) {
      assert.fail(`${what}: expected lines ${from}..${to - 1} in order, once each; entry ${k} is ${got[k] ?? "missing"} ` +
        `(expected ${from + k}; ${got.length} entries in all; around it: ${got.slice(Math.max(0, k - 3), k + 4).join(", ")})`);
    }
  }
}

function logFiles(dir: string, logDir = "logs"): string[] {
  return readdirSync(join(dir, logDir)).sort();
}

const readLog = (dir: string, file: string, logDir = "logs") => readFileSync(join(dir, logDir, file), "utf8");

/** Write `source` as `name` in a fresh folder and run luanet there (cwd = that folder). */
async function run(source: string, args: string[] = [], options: { name?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Exit & { dir: string }> {
  const name = options.name ?? "script.ts";
  const dir = fixture({ [name]: source });
  // This file runs some 30 processes at once, six of them logging 100,000 lines: on two cores each
  // takes up to ~15 s though it takes half a second alone. The bound is for a process that hangs.
  const exit = await runLuanet([...args, join(dir, name)], { cwd: dir, env: options.env ?? {}, timeoutMs: options.timeoutMs ?? 60_000 });
  return { ...exit, dir };
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const hasCommand = (name: string) => spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;

describe("logging", { concurrency: true }, () => {
  describe("every line of a 100,000-line burst reaches the file, in order, once, however the process ends", { concurrency: true }, () => {
    const endings: { how: string; code: number; source: string; signalAfter?: RegExp; then?: RegExp }[] = [
      { how: "the script ends normally", code: 0, source: burst(BURST) },
      { how: "process.exit(0)", code: 0, source: `${burst(BURST)}\nprocess.exit(0);\nconsole.log("not reached");` },
      { how: "SIGINT, sent by the script to itself", code: 130, source: `${burst(BURST)}\nprocess.kill(process.pid, "SIGINT");\nsetTimeout(() => {}, 30_000);` },
      { how: "SIGTERM, sent by the test once the burst is logged", code: 143, source: `${burst(BURST)}\nconsole.log("burst logged");\nsetTimeout(() => {}, 30_000);`, signalAfter: /burst logged/ },
      {
        how: "an uncaught exception in a setTimeout callback", code: 1,
        source: `${burst(BURST)}\nsetTimeout(() => { throw new Error("boom in a timer"); }, 1);`,
        then: new RegExp(`^${head("burst", "ERROR")}uncaught exception\\n  Error: boom in a timer\\n  at .*burst\\.ts:\\d+:\\d+`, "m"),
      },
      {
        how: "an error thrown from the root task", code: 1,
        source: `export default function* () {\n${burst(BURST)}\nthrow new Error("boom in the root task");\n}`,
        then: new RegExp(`^${head("burst", "ERROR")}.*burst\\.ts failed\\n  Error: boom in the root task\\n  at .*burst\\.ts:3:\\d+`, "m"),
      },
    ];
    for (const { how, code, source, signalAfter, then } of endings) {
      test(`${how}: exit ${code}`, async () => {
        const dir = fixture({ "burst.ts": source });
        const p = startLuanet(["--quiet", join(dir, "burst.ts")], { cwd: dir });
        if (signalAfter !== undefined) {
          await p.waitFor(signalAfter, 30_000);
          p.child.kill("SIGTERM");
        }
        const exit = await p.exited(30_000);
        assert.equal(exit.code, code, `exit code; stderr: ${exit.stderr}`);
        assert.doesNotMatch(exit.stderr, /could not be written|dropped/);
        assert.deepEqual(logFiles(dir), ["burst.log"]);
        const text = readLog(dir, "burst.log");
        assertRange(lineNumbers(text, "burst"), 0, BURST, "burst.log");
        assert.ok(text.endsWith("\n"), "the file ends with a whole line");
        if (then !== undefined) assert.match(text, then);
      });
    }
  });

  test('import log from "luanet/log" works from a script outside the project and writes to the same file as luanet.log', async () => {
    const body = `import log from "luanet/log";\nlog.info("from the import", { via: "import" });\nluanet.log.warn("from the global");\n`;
    const [cjs, esm] = await Promise.all([
      run(body, ["-q"], { name: "imp.ts" }),
      run(`${body}await Promise.resolve();\nlog.error("after top-level await");\n`, ["-q"], { name: "imp.mts" }),
    ]);
    for (const r of [cjs, esm]) {
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(logFiles(r.dir), ["imp.log"]);
      const text = readLog(r.dir, "imp.log");
      assert.match(text, new RegExp(`^${head("imp", "INFO ")}from the import via="import"\\n${head("imp", "WARN ")}from the global$`, "m"));
    }
    assert.match(readLog(esm.dir, "imp.log"), new RegExp(`^${head("imp", "ERROR")}after top-level await$`, "m"));
  });

  describe("rotation by size (LUANET_LOG_MAX_BYTES=20000, LUANET_LOG_KEEP=2)", { concurrency: true }, () => {
    const max = 20_000;

    /** Every file: whole lines only, within `max` but for one line; across them, the newest lines in order. */
    function checkRotated(dir: string, keep: number, total: number): void {
      const files = logFiles(dir);
      const expected = ["rot.log", ...Array.from({ length: keep }, (_, k) => `rot.log.${k + 1}`)];
      assert.deepEqual(files, [...expected].sort(), `exactly the current file and ${keep} old ones`);
      const dropped = files.find((f) => readLog(dir, f).includes("log lines were dropped"));
      assert.equal(dropped, undefined, `lines were dropped (the writer was considered stuck): see ${dropped}`);
      const all: number[] = [];
      for (const file of [...expected.slice(1).reverse(), "rot.log"]) { // oldest first
        const text = readLog(dir, file);
        const size = statSync(join(dir, "logs", file)).size;
        assert.ok(text.endsWith("\n"), `${file} ends in the middle of a line: ...${JSON.stringify(text.slice(-40))}`);
        const lines = text.slice(0, -1).split("\n");
        const bad = lines.find((l) => !new RegExp(`^${head("rot", "INFO ")}line (\\d+) i=\\1$`).test(l));
        assert.equal(bad, undefined, `${file} holds a partial line: ${JSON.stringify(bad)} (first line ${JSON.stringify(lines[0])})`);
        const last = Buffer.byteLength(lines.at(-1)!) + 1;
        assert.ok(size - last <= max, `${file} is ${size} bytes: more than one line (${last} bytes) over the ${max}-byte maximum`);
        const numbers = lineNumbers(text, "rot");
        assert.ok(numbers.length > 0, `${file} is empty`);
        all.push(...numbers);
      }
      assertRange(all, total - all.length, total, `the lines across ${expected.slice(1).reverse().join(", ")}, rot.log`);
    }

    const env = { LUANET_LOG_MAX_BYTES: String(max), LUANET_LOG_KEEP: "2" };

    test("~2000 lines in one burst: rot.log, .1 and .2 only, each within the maximum, the newest lines in order", async () => {
      const r = await run(burst(2000), ["-q"], { name: "rot.ts", env });
      assert.equal(r.code, 0, r.stderr);
      checkRotated(r.dir, 2, 2000);
    });

    test("a small ring (LUANET_LOG_BUFFER=1000) that wraps often still rotates at line ends and loses nothing", async () => {
      const total = 20_000;
      // Line 0 first, and the burst once it is on disk: the writer thread is running by then, so
      // a slow thread start on a loaded machine is not taken for a stuck writer (lines dropped).
      const r = await run(`import { existsSync, statSync } from "node:fs";\nexport default function* () {\n  luanet.log.info("line 0", { i: 0 });\n` +
        `  for (let t = 0; t < 500 && !(existsSync("logs/rot.log") && statSync("logs/rot.log").size > 0); t++) yield* Sche.Sleep(20);\n  for (let i = 1; i < ${total}; i++) luanet.log.info(\`line \${i}\`, { i });\n}`,
        ["-q"], { name: "rot.ts", env: { ...env, LUANET_LOG_KEEP: "1000", LUANET_LOG_BUFFER: "1000" } });
      assert.equal(r.code, 0, r.stderr);
      const count = logFiles(r.dir).length;
      assert.ok(count > 50, `${count} files for ~1.2 MB at 20 kB each`);
      checkRotated(r.dir, count - 1, total);
    });
  });

  describe("level filtering applies to the file and the console", { concurrency: true }, () => {
    const source = `luanet.log.debug("d-msg"); luanet.log.info("i-msg"); luanet.log.warn("w-msg"); luanet.log.error("e-msg");`;
    const cases: { what: string; args: string[]; env: NodeJS.ProcessEnv; kept: string[] }[] = [
      { what: "the default (info)", args: [], env: {}, kept: ["INFO", "WARN", "ERROR"] },
      { what: "--log-level warn", args: ["--log-level", "warn"], env: {}, kept: ["WARN", "ERROR"] },
      { what: "LUANET_LOG_LEVEL=warn", args: [], env: { LUANET_LOG_LEVEL: "warn" }, kept: ["WARN", "ERROR"] },
      { what: "--log-level debug", args: ["--log-level", "debug"], env: {}, kept: ["DEBUG", "INFO", "WARN", "ERROR"] },
      { what: "LUANET_LOG_LEVEL=debug", args: [], env: { LUANET_LOG_LEVEL: "debug" }, kept: ["DEBUG", "INFO", "WARN", "ERROR"] },
      { what: "--log-level debug over LUANET_LOG_LEVEL=warn", args: ["--log-level", "debug"], env: { LUANET_LOG_LEVEL: "warn" }, kept: ["DEBUG", "INFO", "WARN", "ERROR"] },
    ];
    for (const { what, args, env, kept } of cases) {
      test(`${what} keeps ${kept.join(", ")}`, async () => {
        const r = await run(source, args, { name: "lv.ts", env });
        assert.equal(r.code, 0, r.stderr);
        const message = (level: string) => `${level[0]!.toLowerCase()}-msg`;
        assert.deepEqual(r.stderr.trimEnd().split("\n"), kept.map((level) => `[lv] ${level} ${message(level)}`), "the console: prefixed with the script's name");
        const file = readLog(r.dir, "lv.log").trimEnd().split("\n");
        assert.equal(file.length, kept.length, `the file:\n${file.join("\n")}`);
        kept.forEach((level, k) => assert.match(file[k]!, new RegExp(`^${head("lv", level.padEnd(5))}${message(level)}$`)));
      });
    }
  });

  describe("the console", { concurrency: true }, () => {
    const source = `luanet.log.info("i-msg"); luanet.log.warn("w-msg"); luanet.log.error("e-msg");`;
    const consoleLines = ["[con] INFO i-msg", "[con] WARN w-msg", "[con] ERROR e-msg"];
    // The helpers set FORCE_COLOR=0; these tests give the child a colour-capable environment.
    const colourEnv = { FORCE_COLOR: undefined, NO_COLOR: undefined, CI: undefined, TERM: "xterm-256color" };

    test("is plain (no ANSI escapes) when stderr is a pipe", async () => {
      const r = await run(source, [], { name: "con.ts", env: colourEnv });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /\x1b/);
      assert.deepEqual(r.stderr.trimEnd().split("\n"), consoleLines);
    });

    test("is coloured by level when stderr is a terminal", async (t) => {
      const dir = fixture({ "con.ts": source });
      const cmd = [process.execPath, luanetBin, "--no-log-file", join(dir, "con.ts")].map(shellQuote).join(" ");
      let output = "";
      if (hasCommand("script")) {
        const exit = await startProcess("script", ["-qfec", cmd, "/dev/null"], { cwd: dir, env: colourEnv }).exited(60_000);
        assert.equal(exit.code, 0, exit.stdout + exit.stderr);
        output = exit.stdout;
      } else if (hasCommand("tmux")) {
        const socket = `luanet-log-test-${process.pid}`;
        const tmux = (...args: string[]) => spawnSync("tmux", ["-L", socket, "-f", "/dev/null", ...args], { cwd: dir, env: { ...process.env, ...colourEnv, FORCE_COLOR: undefined }, encoding: "utf8" });
        assert.equal(tmux("new-session", "-d", "-x", "200", "-y", "50", `${cmd}; echo "exit=$?"; sleep 30`).status, 0, "tmux new-session");
        try {
          const until = Date.now() + 15_000;
          do {
            await sleep(100);
            output = tmux("capture-pane", "-p", "-e").stdout;
          } while (!/exit=\d+/.test(output) && Date.now() < until);
          assert.match(output, /exit=0/);
        } finally {
          tmux("kill-server");
        }
      } else {
        t.skip("neither script (util-linux) nor tmux is installed: cannot give luanet a terminal for stderr");
        return;
      }
      for (const level of ["INFO", "WARN", "ERROR"]) {
        assert.match(output, new RegExp(`\\[con\\] \\x1b\\[[0-9;]*m${level}\\x1b\\[[0-9;]*m ${level[0]!.toLowerCase()}-msg`), `${level} coloured in ${JSON.stringify(output)}`);
      }
      const colour = (level: string) => new RegExp(`(\\x1b\\[[0-9;]*m)${level}`).exec(output)![1];
      assert.notEqual(colour("INFO"), colour("ERROR"), "INFO and ERROR in different colours");
    });

    for (const [what, args, env] of [["--quiet", ["--quiet"], {}], ["-q", ["-q"], {}], ["LUANET_QUIET=1", [], { LUANET_QUIET: "1" }]] as const) {
      test(`${what} prints nothing on the console; the file has the lines`, async () => {
        const r = await run(source, [...args], { name: "con.ts", env });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        assert.match(readLog(r.dir, "con.log"), new RegExp(`^${head("con", "INFO ")}i-msg\\n${head("con", "WARN ")}w-msg\\n${head("con", "ERROR")}e-msg\\n$`));
      });
    }

    test("--no-log-file creates no logs folder; the console has the lines", async () => {
      const r = await run(source, ["--no-log-file"], { name: "con.ts" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stderr.trimEnd().split("\n"), consoleLines);
      assert.deepEqual(readdirSync(r.dir), ["con.ts"], "nothing but the script in the working directory");
    });

    test("--log-dir and LUANET_LOG_DIR choose the folder", async () => {
      const [flag, env] = await Promise.all([
        run(source, ["-q", "--log-dir", "elsewhere/logs"], { name: "con.ts" }),
        run(source, ["-q"], { name: "con.ts", env: { LUANET_LOG_DIR: "from-env" } }),
      ]);
      for (const [r, logDir] of [[flag, "elsewhere/logs"], [env, "from-env"]] as const) {
        assert.equal(r.code, 0, r.stderr);
        assert.ok(!existsSync(join(r.dir, "logs")), "no logs/ folder");
        assert.deepEqual(logFiles(r.dir, logDir), ["con.log"]);
        assert.equal(readLog(r.dir, "con.log", logDir).split("\n").length, 4);
      }
    });
  });

  describe("the runtime's own events go to the same file", { concurrency: true }, () => {
    const service = (before: string) => `
      import * as net from "luanet/net";
      ${before}
      luanet.StartLocalService("LogSvc", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.log.info("user line");
      function* crasher() { yield* Sche.Sleep(20); throw new Error("crash in crasher"); }
      Sche.Spawn(crasher);
      Sche.Spawn(function* () { yield* Sche.Sleep(200); process.exit(0); });
    `;

    test("a service's file is logs/<ServiceName>.log, with listening on, the user's lines and a failed task's identity and stack", async () => {
      const dir = fixture({ "svc.ts": service("") });
      const p = startLuanet(["-q", join(dir, "svc.ts")], { cwd: dir });
      const exit = await p.exited(60_000);
      assert.equal(exit.code, 0, exit.stderr);
      assert.deepEqual(logFiles(dir), ["LogSvc.log"]);
      const text = readLog(dir, "LogSvc.log");
      const me = `LogSvc\\[${p.child.pid}\\] `;
      assert.match(text, new RegExp(`^${head("LogSvc", "INFO ")}LogSvc listening on 127\\.0\\.0\\.1:\\d+$`, "m"));
      assert.match(text, new RegExp(`INFO  ${me}user line$`, "m"));
      assert.match(text, new RegExp(`^${head("LogSvc", "ERROR")}task #\\d+ \\(crasher\\) failed\\n  Error: crash in crasher\\n  at crasher \\(.*svc\\.ts:6:\\d+\\)`, "m"));
      assert.ok(text.includes(`[${p.child.pid}]`), "the process id in the lines");
    });

    test("a line logged before StartLocalService goes to the service's file, not the script's", async () => {
      const r = await run(service(`luanet.log.info("early line");`), ["-q"], { name: "svc.ts" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(logFiles(r.dir), ["LogSvc.log"]);
      const text = readLog(r.dir, "LogSvc.log");
      assert.match(text, new RegExp(`^${head("LogSvc", "INFO ")}early line\\n${head("LogSvc", "INFO ")}user line\\n${head("LogSvc", "INFO ")}LogSvc listening on 127\\.0\\.0\\.1:\\d+$`, "m"));
      assert.match(text, /task #\d+ \(crasher\) failed\n  Error: crash in crasher/);
    });
  });

  describe("file and console names (issue 12, items 6 and 7)", { concurrency: true }, () => {
    // One script, started twice with a different service name each: the three rooms case.
    const room = `
      import * as net from "luanet/net";
      export default function* (name: string) {
        luanet.log.info(\`booting \${name}\`);
        yield* luanet.StartLocalService(name, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        luanet.log.info(\`\${name} ready\`);
        luanet.Exit(0);
      }
    `;

    test("two processes of one room.ts get a file each, their early lines included, and say who they are on the console", async () => {
      const dir = fixture({ "room.ts": room });
      const rooms = ["Room-a", "Room.b"]; // a dot is part of the name, not an extension
      const exits = await Promise.all(rooms.map((name) => runLuanet([join(dir, "room.ts"), name], { cwd: dir, timeoutMs: 60_000 })));
      rooms.forEach((name, k) => {
        const exit = exits[k]!;
        assert.equal(exit.code, 0, exit.stderr);
        const esc = name.replace(".", "\\.");
        assert.match(readLog(dir, `${name}.log`), new RegExp(`^${head(esc, "INFO ")}booting ${esc}\\n${head(esc, "INFO ")}${esc} listening on [^\\n]+\\n${head(esc, "INFO ")}${esc} ready\\n$`));
        assert.deepEqual(exit.stderr.trimEnd().split("\n").map((line) => line.replace(/:\d+$/, ":PORT")),
          [`[room] INFO booting ${name}`, `[${name}] INFO ${name} listening on 127.0.0.1:PORT`, `[${name}] INFO ${name} ready`]);
      });
      assert.deepEqual(logFiles(dir), [...rooms].sort().map((name) => `${name}.log`), "no room.log");
    });

    test("a script that names no service for 2 s (HOLD_MS) writes its own file while it runs; once it names one, later lines go to the service's", async () => {
      const r = await run(`
        import * as net from "luanet/net";
        import { existsSync, readFileSync } from "node:fs";
        export default function* () {
          luanet.log.info("early");
          let waited = 0;
          while (!existsSync("logs/late.log") && waited < 10_000) { yield* Sche.Sleep(50); waited += 50; }
          console.log(JSON.stringify({ waited, text: existsSync("logs/late.log") ? readFileSync("logs/late.log", "utf8") : null }));
          yield* luanet.StartLocalService("Late", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
          luanet.log.info("after naming");
          luanet.Exit(0);
        }
      `, ["-q"], { name: "late.ts" });
      assert.equal(r.code, 0, r.stderr);
      const seen = JSON.parse(r.stdout) as { waited: number; text: string | null };
      assert.ok(seen.waited >= 1500 && seen.waited < 10_000, `late.log appeared after ${seen.waited} ms while the script ran (held for about 2 s, then written)`);
      assert.match(seen.text ?? "", new RegExp(`^${head("late", "INFO ")}early\\n$`));
      assert.deepEqual(logFiles(r.dir), ["Late.log", "late.log"]);
      assert.equal(readLog(r.dir, "late.log"), seen.text, "nothing after the naming in the script's file");
      assert.match(readLog(r.dir, "Late.log"), new RegExp(`^${head("Late", "INFO ")}Late listening on [^\\n]+\\n${head("Late", "INFO ")}after naming\\n$`));
    });

    // The hold is bounded (1000 entries, 1 MiB): past either, the entries are not dropped but go
    // to the script's file, and the service's file starts when the service is named.
    for (const [what, count, size] of [["1500 entries", 1500, 10], ["200 entries of 8 kB (over 1 MiB)", 200, 8000]] as const) {
      test(`${what} before StartLocalService: all in the script's file, in order; the service's lines in its own`, async () => {
        const r = await run(`
          import * as net from "luanet/net";
          export default function* () {
            const pad = "x".repeat(${size});
            for (let i = 0; i < ${count}; i++) luanet.log.info(\`line \${i}\`, { i, pad });
            yield* luanet.StartLocalService("Named", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
            luanet.log.info("named");
            luanet.Exit(0);
          }
        `, ["-q"], { name: "many.ts" });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(logFiles(r.dir), ["Named.log", "many.log"]);
        const text = readLog(r.dir, "many.log");
        assert.doesNotMatch(text, /dropped/);
        assertRange(lineNumbers(text.replace(/ pad="x+"/g, ""), "many"), 0, count, "many.log");
        assert.match(readLog(r.dir, "Named.log"), new RegExp(`^${head("Named", "INFO ")}Named listening on [^\\n]+\\n${head("Named", "INFO ")}named\\n$`));
      });
    }
  });

  describe("when the log file cannot be written (logs is a regular file)", { concurrency: true }, () => {
    async function runBlocked(source: string): Promise<Exit & { dir: string }> {
      const dir = fixture({ "blocked.ts": source });
      writeFileSync(join(dir, "logs"), "");
      const exit = await runLuanet(["-q", join(dir, "blocked.ts")], { cwd: dir, timeoutMs: 30_000 });
      return { ...exit, dir };
    }

    test("a short script still runs to completion, exits 0, and stderr says why", async () => {
      const r = await runBlocked(`luanet.log.info("one"); luanet.log.warn("two"); console.log("done");`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "done\n");
      assert.match(r.stderr, /cannot write the log file .*logs/);
      assert.ok(statSync(join(r.dir, "logs")).isFile());
    });

    // Bounded by runBlocked's 30 s limit: a writer that waited a second per full ring would take
    // minutes. (Not a speed figure: a loaded CI machine may take a while.)
    test("a 100,000-line burst still runs to completion, exits 0, and stderr says why", async () => {
      const r = await runBlocked(`${burst(BURST)}\nconsole.log("done");`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "done\n");
      assert.match(r.stderr, /cannot write the log file .*logs/);
    });
  });

  test("structured fields: numbers bare, the rest as JSON; an Error field's stack on continuation lines", async () => {
    const r = await run(`
      luanet.log.info("x", { a: 1, s: "t", o: { k: [1] } });
      function failing() { return new Error("bad thing"); }
      luanet.log.error("save failed", { error: failing(), id: 7 });
      luanet.log.info("after");
    `, ["-q"], { name: "fields.ts" });
    assert.equal(r.code, 0, r.stderr);
    const text = readLog(r.dir, "fields.log");
    assert.match(text, new RegExp(`^${head("fields", "INFO ")}x a=1 s="t" o=\\{"k":\\[1\\]\\}$`, "m"));
    assert.match(text, new RegExp(`^${head("fields", "ERROR")}save failed id=7\\n  Error: bad thing\\n  at failing \\(.*fields\\.ts:3:\\d+\\)\\n(  at .*\\n)*${head("fields", "INFO ")}after\\n$`, "m"));
  });
});
