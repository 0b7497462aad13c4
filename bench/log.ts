/**
 * Main-thread cost of one log line, against writing the same line with fs.writeSync (what a
 * logger without a writer thread does on the event loop). Run inside luanet:
 *   luanet --quiet --log-dir DIR bench/log.ts   prints { value, reference } in ns per line
 */
import type {} from "luanet/globals";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";

const N = 200_000;
const dir = process.env.LUANET_LOG_DIR!;

function viaLuanet(): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) luanet.log.info("player moved", { id: i, x: 10, y: 20 });
  return ((performance.now() - t0) * 1e6) / N;
}

function viaWriteSync(): number {
  const fd = openSync(join(dir, "reference.log"), "a");
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    writeSync(fd, `${new Date().toISOString()} INFO  bench[${process.pid}] player moved id=${i} x=10 y=20\n`);
  }
  const ns = ((performance.now() - t0) * 1e6) / N;
  closeSync(fd);
  return ns;
}

viaLuanet(); // start the writer thread and warm up
viaWriteSync();
console.log(JSON.stringify({ value: viaLuanet(), reference: viaWriteSync() }));
