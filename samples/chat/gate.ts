// The gate: where the players' browsers connect (WebSocket), and the web server of the chat page.
//   luanet samples/chat/gate.ts [name [ws-addr [http-addr]]]
//   defaults: Gate1 127.0.0.1:3010 127.0.0.1:3000 (port 0: any free port; the URLs are printed)
// Every AUTH goes to Login.Verify (login.ts); the uid it answers is the session's. A request
// with the route "Room.Join" goes to Join of the group Room (room.ts), keyed by that uid.
//
// The page server is plain node:http and serves fixed paths, nothing else from the disk: /
// (index.html), /luanet-client.js and its .map (the browser build of luanet/client, from
// `npm run build`), /config.json (where the gate listens), and a 404 for the rest.
import type {} from "luanet/globals";
import * as net from "luanet/net";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);
const [me = "Gate1", wsAddr = "127.0.0.1:3010", httpAddr = "127.0.0.1:3000"] = luanet.args;

const page = fileURLToPath(new URL("index.html", import.meta.url));
const bundle = fileURLToPath(new URL("../../dist/client/luanet-client.js", import.meta.url));

luanet.StartLocalService(me, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(nameservice);
// Started at the top level: a NewService of this script returns once the gate listens.
// services: clients route to the group Room only (not to a member by its own name, Room1.Join, which would bypass the uid key).
const gate = luanet.StartGate({ ws: wsAddr, auth: "Login.Verify", services: ["Room"] });

/** The WebSocket URL for the page; null host: the page uses the host it was loaded from. */
function wsURL(addr: { ip: string; port: number }): { host: string | null; port: number } {
  const any = addr.ip === "0.0.0.0" || addr.ip === "::";
  return { host: any ? null : addr.ip.includes(":") ? `[${addr.ip}]` : addr.ip, port: addr.port };
}

function serve(config: string) {
  const files: Record<string, { file: string | null; type: string; missing?: string }> = {
    "/": { file: page, type: "text/html; charset=utf-8" },
    "/index.html": { file: page, type: "text/html; charset=utf-8" },
    "/luanet-client.js": { file: bundle, type: "text/javascript; charset=utf-8", missing: `no ${bundle}: run \`npm run build\` in the luanet folder` },
    "/luanet-client.js.map": { file: `${bundle}.map`, type: "application/json" },
    "/config.json": { file: null, type: "application/json" },
  };
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://page").pathname;
    const entry = files[path];
    if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { allow: "GET, HEAD" }).end();
    if (entry === undefined) return void res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    try {
      const body = entry.file === null ? config : await readFile(entry.file);
      res.writeHead(200, { "content-type": entry.type, "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : body);
    } catch (error) {
      const message = entry.missing ?? `cannot read ${entry.file}: ${(error as Error).message}`;
      luanet.log.warn(message);
      res.writeHead(404, { "content-type": "text/plain" }).end(message + "\n");
    }
  };
}

export default function* () {
  const [addrs, err] = yield* gate;
  if (err !== null) {
    luanet.log.error(`the gate cannot start: ${err.code}: ${err.message}`);
    return luanet.StopService();
  }
  const ws = addrs.ws!;
  const http = net.parseAddr(httpAddr);
  if (http.family === "local") throw new TypeError(`gate.ts: the page's address must be host:port, got ${httpAddr}`);
  const server = createServer(serve(JSON.stringify(wsURL(ws))));
  let port: number;
  try {
    port = yield* Sche.Await(new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(http.port, http.ip, () => resolve((server.address() as AddressInfo).port));
    }));
  } catch (error) {
    luanet.log.error(`the chat page cannot be served on ${httpAddr}: ${(error as Error).message}`);
    return luanet.StopService();
  }
  const host = http.ip.includes(":") ? `[${http.ip}]` : http.ip;
  console.log(`chat page on http://${host}:${port}/ (gate ${me}: ws://${net.formatAddr(ws)})`);
  // The page server lives as long as this service: its stop halts this task, which closes it.
  try {
    for (;;) yield* Sche.Block();
  } finally {
    server.closeAllConnections();
    server.close();
  }
}
