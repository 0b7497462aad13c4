/**
 * How a process `luanet up` started tells it that it is ready: once its script's module body has
 * run and the start-up steps it began (listening, registering, joining groups) are done, it
 * writes one line to the pipe LUANET_READY_FD names, and closes it. If the supervisor is gone
 * the write fails, and nothing else happens: the service serves on.
 * @internal
 */
import { closeSync, writeSync } from "node:fs";

export function announceReady(names: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const fd = Number(env.LUANET_READY_FD);
  if (!Number.isInteger(fd) || fd < 3) return;
  delete env.LUANET_READY_FD; // once, and not inherited by what the script starts
  try {
    writeSync(fd, JSON.stringify({ ready: true, names }) + "\n");
  } catch {
    // EPIPE: the supervisor is gone
  }
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
