/**
 * The luanet command as a user meets it: help, version, usage errors, scripts that cannot load,
 * scripts anywhere on disk importing luanet's modules, and what the tools print.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNameService, startService, tool, type NameService, type Service } from "./helpers/cluster.ts";
import { fixture, root, runLuanet, runScript } from "./helpers/proc.ts";

const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;

describe("luanet command", { concurrency: true }, () => {
  test("--help shows the usage and exits 0", async () => {
    const r = await runLuanet(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: luanet \[options\] \[command\] <script> \[args\.\.\.\]/);
    assert.match(r.stdout, /-V, --version/);
    for (const command of ["nameservice", "ls", "call", "send"]) assert.match(r.stdout, new RegExp(`^  ${command}\\b`, "m"));
  });

  test("--version prints the package version", async () => {
    const r = await runLuanet(["--version"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), version);
  });

  test("an unknown option is a usage error, exit 2", async () => {
    const r = await runLuanet(["--bogus", "x.ts"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--bogus'/);
  });

  test("no script is a usage error, exit 2", async () => {
    const r = await runLuanet([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'script'/);
  });

  test("options after the script belong to the script", async () => {
    const r = await runScript(`console.log(JSON.stringify(luanet.args));`, { args: ["--bogus", "-x", "1"] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '["--bogus","-x","1"]');
  });

  test("a missing script is one line naming the file, exit 1", async () => {
    const dir = fixture({});
    const r = await runLuanet(["nope.ts"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `luanet: cannot find the script "nope.ts" (no file at ${join(dir, "nope.ts")})`);
  });

  for (const [name, source, where] of [
    ["broken.ts", "const a: number = 1\nconst b = (\nconsole.log(a)\n", /broken\.ts:4:1: Expected "\)" but found end of file/],
    ["broken.js", "const a = 1\nlet = = 3\n", /broken\.js:2: Unexpected token '='/],
    ["broken.mts", "export const a = 1\nexport const = 2\n", /broken\.mts:2:\d+: Expected identifier but found "="/],
  ] as const) {
    test(`a syntax error in ${name} names the file and line, exit 1, no runtime stack`, async () => {
      const dir = fixture({ [name]: source });
      const r = await runLuanet([join(dir, name)], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^luanet: syntax error in ${dir}/` + where.source));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    });
  }

  // The temp folder has no node_modules: "luanet/..." can only come from the running binary.
  const importer = (prelude = "") =>
    `import { netaddr_ipv4 } from "luanet/net";\nimport table2str from "luanet/table2str";\nimport { Sche as S } from "luanet/scheduler";\n${prelude}` +
    `console.log(table2str(netaddr_ipv4("127.0.0.1", 8010)), S === Sche);\n`;
  for (const [name, files] of [
    ["a .ts script", { "main.ts": importer() }],
    ["a .mts script", { "main.mts": importer() }],
    ["a .mjs script", { "main.mjs": importer() }],
    ["a .js script with import syntax", { "main.js": importer() }],
    ["a .ts script with top-level await in a type: module folder", { "main.ts": importer("await Promise.resolve();\n"), "package.json": '{"type":"module"}' }],
  ] as const) {
    test(`${name} outside the project imports luanet/* and shares the running scheduler`, async () => {
      const dir = fixture(files);
      const r = await runLuanet([join(dir, Object.keys(files)[0]!)], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `{ family: "inet", ip: "127.0.0.1", port: 8010 } true`);
    });
  }

  test("top-level await in a CommonJS-scope .ts script is a load error with a hint", async () => {
    const r = await runScript(`await Promise.resolve();\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^luanet: syntax error in .*script\.ts:1:1: Top-level await .* name the script \.mts, or put it under a package\.json with "type": "module"/);
  });

  test("a stack trace from a .ts script points at the user's own line", async () => {
    const r = await runScript(`type T = { a: number };\nconst t: T = { a: 1 };\nfunction f(): never { throw new Error("where " + t.a); }\nf();\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error: where 1\n\s+at f \(.*script\.ts:3:29\)/);
  });

  describe("the tools print their answer and nothing else (issue 12, item 6)", { concurrency: true }, () => {
    let ns: NameService;
    let svc: Service;
    before(async () => {
      ns = await startNameService();
      svc = await startService(ns, `
        import { LuanetError } from "luanet";
        luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
        function login({ user }: { user: string }): never { throw new LuanetError("bad_credentials", \`wrong password for \${user}\`); }
        luanet.RegRPCFunction("Login", login);
        luanet.StartLocalService("ToolSvc", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        luanet.Register2Name(NS);
      `, { name: "tool-svc.ts" });
    });
    after(() => {
      svc.child.kill("SIGTERM");
      ns.proc.child.kill("SIGTERM");
    });

    test("ls, call and send: the answer on stdout, an empty stderr, exit 0", async () => {
      const [ls, call, send] = await Promise.all([
        tool(ns, ["ls"]),
        tool(ns, ["call", "ToolSvc", "Plus", '{"a":2,"b":3}']),
        tool(ns, ["send", "ToolSvc", '{"hi":1}']),
      ]);
      for (const r of [ls, call, send]) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "", "no connection events on the console");
      }
      assert.match(ls.stdout, /^NAME\s+ADDRESS[^\n]*\nToolSvc\s+127\.0\.0\.1:\d+\s+tcp\s+Plus,Login\s/);
      assert.equal(call.stdout, "5\n");
      assert.equal(send.stdout, "");
    });

    test("LUANET_LOG_LEVEL and LUANET_LOG_DIR, meant for the services, change nothing for a tool", async () => {
      const dir = fixture({});
      const r = await runLuanet(["call", "ToolSvc", "Plus", '{"a":1,"b":1}', "--ns", ns.addr], { cwd: dir, env: { LUANET_LOG_LEVEL: "debug", LUANET_LOG_DIR: join(dir, "logs") } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "2\n");
      assert.equal(r.stderr, "");
      assert.deepEqual(readdirSync(dir), [], "no log folder");
    });

    test("a handler's LuanetError prints its code and message only, exit 1; --verbose adds the remote stack", async () => {
      const [plain, verbose] = await Promise.all([
        tool(ns, ["call", "ToolSvc", "Login", '{"user":"bob"}']),
        tool(ns, ["call", "ToolSvc", "Login", '{"user":"bob"}', "--verbose"]),
      ]);
      assert.equal(plain.code, 1);
      assert.equal(plain.stdout, "");
      assert.equal(plain.stderr, "luanet: bad_credentials: wrong password for bob\n");
      assert.equal(verbose.code, 1);
      assert.match(verbose.stderr, /^luanet: bad_credentials: wrong password for bob\nLuanetError\[bad_credentials\]: wrong password for bob\n\s+at login \(.*tool-svc\.ts:\d+:\d+\)/);
    });

    test("the logging options work after every tool", async () => {
      const logDir = fixture({});
      const [quiet, q, debug, warn, toFile, sendQuiet] = await Promise.all([
        tool(ns, ["call", "ToolSvc", "Plus", '{"a":1,"b":2}', "--quiet"]),
        tool(ns, ["ls", "-q"]),
        tool(ns, ["ls", "--log-level", "debug"]),
        tool(ns, ["call", "ToolSvc", "Plus", '{"a":1,"b":2}', "--log-level", "warn", "--no-log-file"]),
        tool(ns, ["ls", "--log-level", "debug", "--log-dir", logDir, "--quiet"]),
        tool(ns, ["send", "ToolSvc", "{}", "--quiet"]),
      ]);
      for (const r of [quiet, q, debug, warn, toFile, sendQuiet]) assert.equal(r.code, 0, r.stderr);
      assert.equal(quiet.stdout, "3\n");
      assert.equal(warn.stderr, "");
      assert.match(debug.stderr, /^\[luanet\] DEBUG connected to nameservice at 127\.0\.0\.1:\d+$/m, "a tool's console lines say [luanet]");
      assert.match(debug.stderr, /^\[luanet\] DEBUG connection to nameservice \(127\.0\.0\.1:\d+\) closed$/m, "closed at our own exit: not news");
      assert.equal(toFile.stderr, "");
      assert.ok(existsSync(join(logDir, "luanet.log")), "--log-dir gives a tool a file");
      assert.match(readFileSync(join(logDir, "luanet.log"), "utf8"), /DEBUG luanet\[\d+\] connection to nameservice \(127\.0\.0\.1:\d+\) closed\n$/);
    });

    test("options before the tool's name count for it: luanet --ns X -q call ...", async () => {
      const [call, ls] = await Promise.all([
        runLuanet(["--ns", ns.addr, "-q", "call", "ToolSvc", "Plus", '{"a":4,"b":5}']),
        runLuanet(["--ns", ns.addr, "ls"]),
      ]);
      assert.equal(call.code, 0, call.stderr);
      assert.equal(call.stdout, "9\n");
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(ls.stdout, /^ToolSvc\s/m);
    });

    test("arguments that are not JSON are a usage error: one line, exit 2, nothing sent", async () => {
      const [call, send] = await Promise.all([
        tool(ns, ["call", "ToolSvc", "Plus", "{a:1}"]),
        tool(ns, ["send", "ToolSvc", "not json"]),
      ]);
      for (const r of [call, send]) {
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^luanet: bad_json: the (arguments|message) must be JSON, e\.g\. '\{"a":1\}': [^\n]+\n$/);
      }
    });

    test("an unknown option after a tool is still a usage error, exit 2", async () => {
      const r = await tool(ns, ["call", "ToolSvc", "Plus", "--loud"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown option '--loud'/);
    });
  });
});

test("the plain-script fast path (cli.ts) knows every command name and every option variable of the commander program, so it never takes a command for a script or skips an option's check", async () => {
  const { COMMANDS, OPTION_VARIABLES } = await import("../dist/runtime/cli.js");
  const { buildProgram } = await import("../dist/runtime/cli-commands.js");
  const program = buildProgram(undefined);
  assert.deepEqual([...COMMANDS].sort(), [...program.commands.map((c) => c.name()), "help"].sort());
  const variables = program.options.map((o) => o.envVar).filter((v): v is string => v !== undefined);
  assert.ok(variables.length >= 10, `the root program's options read ${variables.length} variables`);
  assert.deepEqual([...OPTION_VARIABLES].sort(), [...new Set(variables)].sort());
});
