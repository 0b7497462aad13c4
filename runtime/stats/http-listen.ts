/**
 * Listening for the HTTP servers of `--metrics` and `luanet dashboard`: on a NetAddr (port 0 picks
 * one), resolving with the base URL it listens at, `http://host:port/` or `unix:/path:/`.
 * @internal
 */
import type { Server } from "node:http";
import type { NetAddr } from "../../stdlib/net.js";

export function listenHttp(server: Server, addr: NetAddr): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      const where = server.address();
      resolve(typeof where === "object" && where !== null
        ? `http://${where.family === "IPv6" ? `[${where.address}]` : where.address}:${where.port}/`
        : `unix:${String(where)}:/`);
    };
    if (addr.family === "local") server.listen(addr.path, done);
    else server.listen(addr.port, addr.ip, done);
  });
}
