/**
 * `npm run bench`: every scenario in a fresh process, each luanet figure beside a reference
 * measured in the same run (these machines are noisy, so ratios are what to compare).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RegistryFigures } from "./registry.ts";
import { gateBroadcast, gateRequests } from "./gate.ts";
import { colocatedPlus, cpuOf, groupCluster, luanetPlus, median, plusCluster, plusClusterOf, referencePlus, run, stopAll, type Figures } from "./rpc.ts";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const node = process.execPath;

/** A CA and a member certificate in `dir`, made with the openssl command; null without it. */
function makeCerts(dir: string): NodeJS.ProcessEnv | null {
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  try {
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=bench CA", "-keyout", "ca.key", "-out", "ca.pem");
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=bench member", "-keyout", "member.key", "-out", "member.csr");
    openssl("x509", "-req", "-in", "member.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "member.pem");
  } catch {
    return null;
  }
  return { LUANET_TLS_CERT: join(dir, "member.pem"), LUANET_TLS_KEY: join(dir, "member.key"), LUANET_TLS_CA: join(dir, "ca.pem") };
}

type Row = { metric: string; luanet: string; reference: string; ratio: string; target: string };
const rows: Row[] = [];
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(1));

function scenario(file: string, name: string): { value: number; reference: number } {
  const out = execFileSync(node, ["--expose-gc", "--import", "tsx", here(file), name], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop()!);
}

function add(metric: string, r: { value: number; reference: number }, refName: string, unit: string, target: string): void {
  rows.push({ metric, luanet: `${fmt(r.value)} ${unit}`, reference: `${fmt(r.reference)} ${unit} (${refName})`, ratio: (r.value / r.reference).toFixed(2), target });
}

/** `npm run bench -- security transports`: only those sections; all of them without arguments. */
const sections = ["scheduler", "startup", "plus", "tracing", "groups", "transports", "security", "stats", "logging", "registry", "gate"];
const only = process.argv.slice(2);
for (const name of only) if (!sections.includes(name)) throw new Error(`unknown section ${JSON.stringify(name)}; the sections: ${sections.join(", ")}`);
const want = (name: string) => only.length === 0 || only.includes(name);

if (want("scheduler")) {
  add("spawn+finish, 1,000,000 tasks", scenario("scheduler.ts", "spawn"), "bare generators", "tasks/s", ">= 4M/s");
  add("Block/WakeUp switches, 2 tasks", scenario("scheduler.ts", "switch2"), "async/await", "/s", ">= 2M/s");
  add("Block/WakeUp switches, 10,000 tasks", scenario("scheduler.ts", "switch10k"), "async/await", "/s", ">= 2M/s");
  add("heap per idle blocked task, 100,000", scenario("scheduler.ts", "memory"), "bare generator", "B", "<= 1024 B");
}

/** Median wall time of `runs` runs of a command, alternating with the reference to share noise. */
function startup(runs: number): { value: number; reference: number } {
  const time = (args: string[]) => {
    const t0 = performance.now();
    const r = spawnSync(node, args, { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0 || r.stdout.trim() !== "hello") throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
    return performance.now() - t0;
  };
  const luanet: number[] = [], plain: number[] = [];
  time([here("../bin/luanet.js"), here("hello.ts")]); // fill tsx's transform cache, as any second run has it
  for (let i = 0; i < runs; i++) {
    luanet.push(time([here("../bin/luanet.js"), here("hello.ts")]));
    plain.push(time([here("hello.js")]));
  }
  return { value: median(luanet), reference: median(plain) };
}
if (want("startup")) {
  const s = startup(15);
  rows.push({ metric: "start-up, luanet hello.ts", luanet: `${s.value.toFixed(0)} ms`, reference: `${s.reference.toFixed(0)} ms (node hello.js)`, ratio: (s.value / s.reference).toFixed(2), target: "<= 2x" });
}

/** The Plus scenario: luanet, the reference and its records variant alternate, `rounds` times;
 * medians are kept. Each run warms up for 1 s before it measures (plus-client.ts, rpc-reference.ts). */
async function plus(callers: number, rounds: number, seconds: number): Promise<{ luanet: Figures; reference: Figures; records: Figures }> {
  const env = await plusCluster();
  const l: Figures[] = [], r: Figures[] = [], rr: Figures[] = [];
  for (let i = 0; i < rounds; i++) {
    l.push(await luanetPlus(env, callers, seconds));
    r.push(await referencePlus(callers, seconds));
    rr.push(await referencePlus(callers, seconds, true));
  }
  await stopAll();
  const med = (xs: Figures[], k: "rate" | "p50" | "p99") => median(xs.map((x) => x[k]));
  const pick = (xs: Figures[]): Figures => ({ rate: med(xs, "rate"), p50: med(xs, "p50"), p99: med(xs, "p99") });
  return { luanet: pick(l), reference: pick(r), records: pick(rr) };
}

const us = (ms: number) => `${(ms * 1000).toFixed(0)} us`;
for (const callers of want("plus") ? [1, 100] : []) {
  const { luanet, reference, records } = await plus(callers, 3, 3);
  const many = callers === 100;
  const tag = `Plus over TCP, ${callers} calling task${many ? "s" : ""}`;
  const ref = "hand-written net+cbor-x";
  add(`${tag}: calls`, { value: luanet.rate, reference: reference.rate }, ref, "/s", many ? ">= 1.0x" : "");
  add(`${tag}: calls `, { value: luanet.rate, reference: records.rate }, "the same with cbor-x records", "/s", "");
  rows.push({ metric: `${tag}: p50 latency`, luanet: us(luanet.p50), reference: `${us(reference.p50)} (${ref})`, ratio: (luanet.p50 / reference.p50).toFixed(2), target: many ? "" : "<= 1.2x" });
  rows.push({ metric: `${tag}: p99 latency`, luanet: us(luanet.p99), reference: `${us(reference.p99)} (${ref})`, ratio: (luanet.p99 / reference.p99).toFixed(2), target: many ? "<= 1.5x" : "" });
}

/** Plus between two services of one process (luanet.NewService) against the same pair in two
 * processes, alternating, 3 rounds: median calls/s. */
if (want("plus")) {
  const env = await plusCluster();
  const here: number[] = [], apart: number[] = [];
  for (let round = 0; round < 3; round++) {
    here.push((await colocatedPlus(env, 100, 2)).rate);
    apart.push((await luanetPlus(env, 100, 2)).rate);
  }
  await stopAll();
  add("Plus between 2 services of 1 process, 100 tasks: calls", { value: median(here), reference: median(apart) }, "the same in 2 processes", "/s", ">= 5x");
}

/**
 * Groups: the same 100 calling tasks to a group of 3 members (least-pending), to a group of 1
 * member, to one named service, and to the group's 3 members by name, in turn (balancing by hand,
 * the fastest honest way to spread calls yourself), alternating, 3 rounds: median calls/s. The
 * 1-member group has as many processes as the named service, and the 3-member group as many as
 * the 3 by hand: those two ratios are the cost of balancing per call (the "at most 10%").
 * The 3-member group against one named service adds what 3 server processes and 3 connections
 * cost on a machine with few cores; it is reported, not targeted.
 */
if (want("groups")) {
  const env = await groupCluster();
  const targets = ["PlusNamed", "PlusSolo", "PlusGroup", "PlusG1,PlusG2,PlusG3"];
  const rates = new Map<string, number[]>(targets.map((t) => [t, []]));
  for (let round = 0; round < 3; round++) {
    for (const target of targets) rates.get(target)!.push((await luanetPlus({ ...env, PLUS_SERVICE: target }, 100, 2)).rate);
  }
  await stopAll();
  const named = median(rates.get("PlusNamed")!);
  add("Plus to a group of 1 member (least-pending), 100 tasks: calls", { value: median(rates.get("PlusSolo")!), reference: named }, "one named service", "/s", ">= 0.9x");
  add("Plus to a group of 3 members (least-pending), 100 tasks: calls", { value: median(rates.get("PlusGroup")!), reference: named }, "one named service", "/s", "");
  add("Plus to a group of 3 members (least-pending), 100 tasks: calls ", { value: median(rates.get("PlusGroup")!), reference: median(rates.get("PlusG1,PlusG2,PlusG3")!) }, "the 3 by name, in turn, by hand", "/s", ">= 0.9x");
}

/** Plus with 100 calling tasks under each configuration, alternating, `rounds` rounds: median
 * calls/s; `client` runs the calling side (default: a client process over TCP). */
async function plusRates(configs: [string, NodeJS.ProcessEnv][], rounds = 3, client = luanetPlus): Promise<Map<string, number>> {
  const rates = new Map<string, number[]>(configs.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, env] of configs) {
      const cluster = await plusCluster(env);
      rates.get(name)!.push((await client(cluster, 100, 2)).rate);
      await stopAll();
    }
  }
  return new Map([...rates].map(([name, xs]) => [name, median(xs)]));
}

/**
 * Tracing with no OpenTelemetry SDK registered (the tracing code runs: one look at the global
 * provider per call on each side) against LUANET_TRACING=off, client and server alike,
 * alternating, 5 rounds: median calls/s, and median CPU time per call (client and server
 * together, from their CPU clocks). The target is 2%, less than what calls/s moves between two
 * runs of one build on a shared machine; CPU time per call does not count the time a process
 * waits for a core, so it is the steadier of the two.
 */
if (want("tracing")) {
  const configs: [string, NodeJS.ProcessEnv][] = [["no SDK", {}], ["off", { LUANET_TRACING: "off" }]];
  const rates = new Map<string, number[]>(configs.map(([name]) => [name, []]));
  const cpus = new Map<string, number[]>(configs.map(([name]) => [name, []]));
  for (let round = 0; round < 5; round++) {
    for (const [name, extra] of configs) {
      const { env, serverPid } = await plusClusterOf(extra);
      const server0 = cpuOf(serverPid);
      const f = await luanetPlus(env, 100, 2);
      const server = cpuOf(serverPid) - server0;
      await stopAll();
      rates.get(name)!.push(f.rate);
      cpus.get(name)!.push((f.cpu! + server) / f.calls!);
    }
  }
  const [on, off] = [configs[0]![0], configs[1]![0]];
  add("Plus over TCP, 100 tasks, tracing on, no SDK: calls", { value: median(rates.get(on)!), reference: median(rates.get(off)!) }, "LUANET_TRACING=off", "/s", ">= 0.98x");
  const cpuOn = median(cpus.get(on)!), cpuOff = median(cpus.get(off)!);
  rows.push({ metric: "Plus over TCP, 100 tasks, tracing on, no SDK: CPU per call", luanet: `${cpuOn.toFixed(1)} us`, reference: `${cpuOff.toFixed(1)} us (LUANET_TRACING=off)`, ratio: (cpuOn / cpuOff).toFixed(3), target: "<= 1.02x" });
  // The part of that difference that is tracing's, measured alone: the check each side makes.
  const check = scenario("tracing-check.ts", "");
  rows.push({ metric: "tracing's no-SDK check, per call and side", luanet: `${check.value.toFixed(1)} ns`, reference: `${check.reference.toFixed(1)} ns (start a span, ask isRecording)`, ratio: (check.value / check.reference).toFixed(2), target: "" });
  rows.push({ metric: "  both sides' checks, against a Plus call's CPU", luanet: `${(2 * check.value).toFixed(0)} ns`, reference: `${cpuOff.toFixed(1)} us (LUANET_TRACING=off)`, ratio: ((2 * check.value) / (cpuOff * 1000)).toFixed(4), target: "<= 0.02" });
}

/** The Plus scenario with 100 tasks over each transport, beside TCP, in the same run. */
if (want("transports")) {
  const dir = mkdtempSync(join(tmpdir(), "luanet-bench-"));
  const transports: [string, NodeJS.ProcessEnv][] = [
    ["TCP", { PLUS_TYPE: "stream", PLUS_ADDR: "127.0.0.1:0" }],
    ["UNIX socket", { PLUS_TYPE: "stream", PLUS_ADDR: `unix:${join(dir, "plus.sock")}` }],
    ["TCP over IPv6", { PLUS_TYPE: "stream", PLUS_ADDR: "[::1]:0" }],
    ["UDP", { PLUS_TYPE: "dgram", PLUS_ADDR: "127.0.0.1:0" }],
  ];
  const rates = await plusRates(transports);
  for (const [name] of transports.slice(1)) {
    // UDP batches the frames of a turn into datagrams of udpBatchBytes (transport/udp-batch.ts).
    add(`Plus over ${name}, 100 calling tasks: calls`, { value: rates.get(name)!, reference: rates.get("TCP")! }, "luanet over TCP", "/s", name === "UDP" ? ">= 0.6x" : "");
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Security: the Plus scenario with a cluster secret, and with TLS, beside the same without. */
if (want("security")) {
  const dir = mkdtempSync(join(tmpdir(), "luanet-bench-sec-"));
  writeFileSync(join(dir, "secret"), randomBytes(32).toString("hex"), { mode: 0o600 });
  const secret = { LUANET_SECRET_FILE: join(dir, "secret") };
  const tls = makeCerts(dir);
  const configs: [string, NodeJS.ProcessEnv][] = [
    ["TCP", {}],
    ["TCP, cluster secret", secret],
    ...(tls === null ? [] : [["TCP, TLS", tls], ["TCP, TLS and secret", { ...tls, ...secret }]] as [string, NodeJS.ProcessEnv][]),
    ["UDP", { PLUS_TYPE: "dgram" }],
    ["UDP, cluster secret", { PLUS_TYPE: "dgram", ...secret }],
  ];
  const rates = await plusRates(configs);
  for (const [name] of configs) {
    if (name === "TCP" || name === "UDP") continue;
    const base = name.startsWith("UDP") ? "UDP" : "TCP";
    // UDP signs once per datagram, and a datagram carries a batch of frames.
    const target = name === "TCP, cluster secret" || name === "UDP, cluster secret" ? ">= 0.9x" : "";
    add(`Plus over ${name}, 100 tasks: calls`, { value: rates.get(name)!, reference: rates.get(base)! }, `${base}, no security`, "/s", target);
  }
  if (tls === null) rows.push({ metric: "Plus over TLS", luanet: "skipped", reference: "no openssl command to make test certificates", ratio: "", target: "" });
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Stats: Plus with the always-on counters (the default) beside the same with LUANET_STATS=off,
 * alternating, 5 rounds; over TCP, and between two services of one process, where a call costs
 * least and so counting it costs most.
 */
if (want("stats")) {
  const configs: [string, NodeJS.ProcessEnv][] = [["on", {}], ["off", { LUANET_STATS: "off" }]];
  for (const [where, client] of [["over TCP", luanetPlus], ["between 2 services of 1 process", colocatedPlus]] as const) {
    const rates = await plusRates(configs, 5, client);
    add(`Plus ${where}, 100 tasks, counters on (the default): calls`, { value: rates.get("on")!, reference: rates.get("off")! }, "LUANET_STATS=off", "/s", ">= 0.95x");
  }
}

/** Logging: main-thread cost per line, and Plus with a log line per call against none. */
if (want("logging")) {
  const dir = mkdtempSync(join(tmpdir(), "luanet-bench-log-"));
  const cost = await run<{ value: number; reference: number }>([here("../bin/luanet.js"), "--quiet", "--log-dir", dir, here("log.ts")], { LUANET_LOG_DIR: dir });
  rows.push({ metric: "log line, main-thread cost", luanet: `${cost.value.toFixed(0)} ns`, reference: `${cost.reference.toFixed(0)} ns (fs.writeSync per line)`, ratio: (cost.value / cost.reference).toFixed(2), target: "" });

  const cluster = await plusCluster();
  const logged: number[] = [], plain: number[] = [];
  for (let round = 0; round < 3; round++) {
    plain.push((await luanetPlus(cluster, 100, 2)).rate);
    logged.push((await luanetPlus(cluster, 100, 2, ["--quiet", "--log-dir", dir], ["log"])).rate);
  }
  await stopAll();
  add("Plus, 100 tasks, a log line per call: calls", { value: median(logged), reference: median(plain) }, "no logging", "/s", ">= 0.75x");
  rmSync(dir, { recursive: true, force: true });
}

/** Registries: etcd beside the built-in name service, the same services in each, alternating. */
// Loaded only here: it probes for the etcd binary, which no other section needs.
const registry = want("registry") ? await import("./registry.ts") : null;
const etcdMissing = registry?.etcdMissing;
if (etcdMissing) {
  rows.push({ metric: "registry rows (etcd vs name service)", luanet: "skipped", reference: etcdMissing, ratio: "", target: "" });
} else if (registry !== null) {
  const { measure, registries, stopAll: stopRegistries } = registry;
  const names = ["S0", "S1", "S2", "S3", "S4", "S5"];
  const { ns, etcd, cluster } = await registries(names);
  const n: RegistryFigures[] = [], e: RegistryFigures[] = [];
  for (let round = 0; round < 3; round++) {
    n.push(await measure(ns, names, 2));
    e.push(await measure(etcd, names, 2));
  }
  await stopRegistries(cluster);
  const med = (xs: RegistryFigures[], k: keyof RegistryFigures) => median(xs.map((x) => x[k]));
  const ref = "built-in name service";
  add("name look-ups, 50 tasks: etcd (watch-kept cache)", { value: med(e, "lookups"), reference: med(n, "lookups") }, ref, "/s", "");
  add("GetRemoteFuncProvider, 50 tasks: etcd (watch-kept cache)", { value: med(e, "providers"), reference: med(n, "providers") }, ref, "/s", "");
  for (const [k, what] of [["warm", "registry connected"], ["cold", "fresh process"]] as const) {
    const value = med(e, k), reference = med(n, k);
    rows.push({ metric: `first call to a new name, ${what}: etcd`, luanet: `${value.toFixed(1)} ms`, reference: `${reference.toFixed(1)} ms (${ref})`, ratio: (value / reference).toFixed(2), target: "" });
  }
}

/**
 * Gates (bench/gate.ts): players' WebSocket clients, in load processes of their own, against a
 * luanet gate and against a hand-written `ws` server speaking the same frames. 10,000 clients
 * each send a request a second for 10 s once all are connected (one run of each: the server's
 * resident memory per client, and request latency); 1,000 clients in one channel on each server
 * receive broadcasts as fast as they keep up, 32 broadcasts in flight at most, the two servers
 * taking turns in 8 phases of 1 s each (receipts/s, and the server's CPU time per receipt).
 */
if (want("gate")) {
  const ref = "hand-written ws server";
  const tag = "gate, 10,000 WebSocket clients, 1 request/s each";
  const l = await gateRequests("luanet", 10_000, 10), r = await gateRequests("reference", 10_000, 10);
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`, ms = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} us` : `${x.toFixed(1)} ms`);
  rows.push({ metric: `${tag}: server rss per client`, luanet: kib(l.rssPerClient), reference: `${kib(r.rssPerClient)} (${ref})`, ratio: (l.rssPerClient / r.rssPerClient).toFixed(2), target: "" });
  for (const k of ["p50", "p99"] as const) {
    rows.push({ metric: `${tag}: ${k} latency`, luanet: ms(l[k]), reference: `${ms(r[k])} (${ref})`, ratio: (l[k] / r[k]).toFixed(2), target: k === "p99" ? "< 50 ms" : "" });
  }
  const b = await gateBroadcast(1000, 1000, 8, 32);
  const btag = "gate, channel broadcast to 1,000 clients";
  add(`${btag}: receipts`, { value: b.luanet.rate, reference: b.reference.rate }, `${ref}, encoding once`, "/s", ">= 0.8x");
  rows.push({ metric: `${btag}: server CPU per receipt`, luanet: `${b.luanet.cpuPerReceipt.toFixed(2)} us`, reference: `${b.reference.cpuPerReceipt.toFixed(2)} us (${ref}, encoding once)`, ratio: (b.luanet.cpuPerReceipt / b.reference.cpuPerReceipt).toFixed(2), target: "" });
}

const cols = ["metric", "luanet", "reference", "ratio", "target"] as const;
const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
const line = (r: Record<(typeof cols)[number], string>) => cols.map((c, i) => r[c].padEnd(width[i]!)).join("  ");
console.log(line({ metric: "metric", luanet: "luanet", reference: "reference (same run)", ratio: "ratio", target: "target" }));
console.log(width.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
