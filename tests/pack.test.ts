/**
 * luanet as a user gets it: `npm pack` a clean copy of the sources (its prepack builds dist/),
 * `npm install` the tarball into a fresh project in the OS temp folder, and run from there, with
 * `npx luanet`, a name service, a TypeScript service, a tool script and `luanet call`.
 *
 * npx runs luanet two processes down (npm exec, then sh), so killing npx would leave luanet
 * running: each npx starts in a process group of its own (setsid), stopped by its PID at the end.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { fixture, root, startProcess, tempDir, type Running } from "./helpers/proc.ts";

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string; version: string; files: string[] };

/** What `npm test` sets about luanet's own package: not the user's project, so not passed on. */
const npmEnv: NodeJS.ProcessEnv = {};
for (const key of Object.keys(process.env)) {
  if (/^npm_(package|lifecycle)_|^npm_config_local_prefix$/i.test(key)) npmEnv[key] = undefined;
}

const groups: number[] = [];
function stopGroups(): void {
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // the group has already exited
    }
  }
}
after(stopGroups);

/** Start `command args` in a new process group (setsid execs it in place: the group is its PID). */
function startGroup(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Running {
  const proc = startProcess("setsid", [command, ...args], { cwd, env: { ...npmEnv, ...env } });
  if (proc.child.pid !== undefined) groups.push(proc.child.pid);
  return proc;
}

function missing(): string | false {
  for (const [command, why] of [["npm", "npm is not on PATH"], ["setsid", "setsid (util-linux) is not installed: npx's children could not be stopped"]] as const) {
    if (spawnSync(command, ["--version"], { stdio: "ignore" }).status !== 0) return why;
  }
  return false;
}

/** A copy of what a fresh clone has that packing needs (no dist/), using the repo's node_modules.
 * Packing the checkout itself would rebuild dist/ under the other test files running from it. */
function sourceCopy(): string {
  const dir = tempDir();
  const tsconfig = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8")) as { include: string[] };
  // tools/: the build script (npm run build) bundles luanet/client with tools/build-client.mjs.
  const entries = ["package.json", "tsconfig.json", "README.md", "LICENSE", "tools", ...tsconfig.include, ...pkg.files.filter((f) => !f.startsWith("dist"))];
  for (const entry of new Set(entries)) {
    if (existsSync(join(root, entry))) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(realpathSync(join(root, "node_modules")), join(dir, "node_modules"), "dir");
  return dir;
}

const SERVER = `import type {} from "luanet/globals";
import * as net from "luanet/net";

luanet.RegRPCFunction("Plus", (arg: { a: number; b: number }) => ({ sum: arg.a + arg.b }));
luanet.StartLocalService("PackServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(net.parseAddr(process.env.LUANET_NS!));
`;

/** A tool: no service of its own; it finds PackServer through --ns. */
const TOOL = `import type {} from "luanet/globals";

export default function* (a: string, b: string) {
  const [ret, err] = yield* luanet.RPCCall<{ sum: number }>("PackServer", "Plus", { a: Number(a), b: Number(b) });
  if (err !== null) throw err;
  console.log(\`sum \${ret!.sum}\`);
}
`;

const unreachable = /E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH|HOSTUNREACH)\b/;

test("the npm pack tarball installs into a fresh project and runs services, tools and calls with npx luanet", { skip: missing(), timeout: 420_000 }, async (t) => {
  try {
    // Pack: prepack cleans and builds dist/ in the copy, which has none.
    const packDir = tempDir();
    const pack = await startGroup("npm", ["pack", "--pack-destination", packDir], sourceCopy()).exited(180_000);
    assert.equal(pack.code, 0, `npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
    const tarball = `${pkg.name}-${pkg.version}.tgz`;
    assert.deepEqual(readdirSync(packDir), [tarball]);

    // Install into a project that knows nothing of luanet's overrides or allowScripts.
    const project = fixture({
      "package.json": JSON.stringify({ name: "luanet-user", version: "1.0.0", private: true }),
      "server.ts": SERVER,
      "tool.ts": TOOL,
    });
    const install = await startGroup("npm", ["install", join(packDir, tarball), "--prefer-offline", "--no-audit", "--no-fund"], project).exited(180_000);
    const installOutput = `${install.stdout}\n${install.stderr}`;
    if (install.code !== 0 && unreachable.test(installOutput)) {
      t.skip(`the npm registry is unreachable: ${unreachable.exec(installOutput)![0]}`);
      return;
    }
    assert.equal(install.code, 0, `npm install failed:\n${installOutput}`);
    // The tarball carries dist/ and no install-time script of its own for npm 11 to ask about.
    assert.doesNotMatch(installOutput, /\bluanet@\S+ \((preinstall|install|postinstall|prepare):/);
    const installed = join(project, "node_modules", "luanet");
    const scripts = (JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ?? {};
    for (const hook of ["preinstall", "install", "postinstall", "prepare"]) assert.equal(scripts[hook], undefined, `the packed package.json has a ${hook} script`);
    assert.ok(existsSync(join(installed, "dist", "runtime", "cli.js")), "the tarball has no dist/runtime/cli.js");

    // What CBOR decoder the user got (the README says how to check): informative, either works.
    const cbor = await startProcess(process.execPath, ["--input-type=module", "-e", 'import("cbor-x").then((m) => console.log(m.isNativeAccelerationEnabled))'], { cwd: project }).exited(30_000);
    assert.equal(cbor.code, 0, cbor.stderr);
    t.diagnostic(`cbor-x native acceleration in the user's project: ${cbor.stdout.trim()}`);

    const version = await startGroup("npx", ["luanet", "--version"], project).exited(30_000);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), pkg.version);

    const ns = startGroup("npx", ["luanet", "nameservice", "--listen", "127.0.0.1:0"], project);
    const addr = (await ns.waitFor(/nameservice listening on (\S+)/, 30_000, "stderr"))[1]!;

    const server = startGroup("npx", ["luanet", "server.ts"], project, { LUANET_NS: addr });
    await server.waitFor(/PackServer registered with the name service at /, 30_000, "stderr");

    const [a, b] = [1 + Math.floor(Math.random() * 1000), 1 + Math.floor(Math.random() * 1000)];
    const tool = await startGroup("npx", ["luanet", "--ns", addr, "tool.ts", String(a), String(b)], project).exited(30_000);
    assert.equal(tool.code, 0, `tool.ts failed:\n${tool.stdout}\n${tool.stderr}`);
    assert.match(tool.stdout, new RegExp(`^sum ${a + b}$`, "m"));

    // `luanet call`, with cbor-x's pure-JS decoder (what a user without the native addon gets).
    const [c, d] = [a + 1, b * 2];
    const call = await startGroup("npx", ["luanet", "call", "PackServer", "Plus", JSON.stringify({ a: c, b: d }), "--ns", addr], project, { CBOR_NATIVE_ACCELERATION_DISABLED: "true" }).exited(30_000);
    assert.equal(call.code, 0, `luanet call failed:\n${call.stdout}\n${call.stderr}`);
    assert.deepEqual(JSON.parse(call.stdout), { sum: c + d });
  } finally {
    stopGroups();
  }
});
