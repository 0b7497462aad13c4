/**
 * The name of the host this process runs on, as registrations, `luanet ps` and the supervisor's
 * name (`luanet.supervisor@<host>`) give it: LUANET_HOST when set (containers and network
 * namespaces that share the machine's host name: `luanet up --host`), else the machine's.
 * Processes that share a host name must see each other's PIDs: a restarted service takes over
 * the etcd name of a same-host holder whose PID no longer runs (registry/etcd-registrar.ts), so a
 * name shared by containers with PID namespaces of their own would let one take another's name.
 * @internal
 */
import { hostname } from "node:os";

export function hostName(env: NodeJS.ProcessEnv = process.env): string {
  const chosen = env.LUANET_HOST;
  return chosen !== undefined && chosen !== "" ? chosen : hostname();
}

/** True if `pid` names a live process of this machine (signal 0 checks without sending one). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}
