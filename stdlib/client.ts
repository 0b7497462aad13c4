/**
 * `luanet/client`: what a game's players run (Node or a browser) to talk to a luanet gate
 * (`luanet.StartGate`), per docs/protocol.md section 13. A player is not a service: it reaches
 * only the functions services registered with `luanet.RegClientFunction`, and hears pushes.
 *
 * @example
 * import { connect } from "luanet/client";
 * const c = await connect("ws://127.0.0.1:3010", { auth: { token } });
 * c.session;                                     // the session's id, from HELLO
 * c.user;                                        // { uid, data }: the AUTH's REPLY, or null
 * const [seat, err] = await c.request("Room.Join", { room: 7 }, { timeout: 5000 });
 * if (err !== null) console.log(err.code);       // "timeout", "not_authenticated", ...
 * c.send("Room.Say", { text: "hi" });            // one way: nothing is answered
 * c.on("message", (route, msg) => {});           // pushes and channel broadcasts
 * c.on("close", (reason, message) => {});        // a KICK's reason, "disconnected", "closed"...
 * const room = c.client<Room>("Room");           // typed by the contract interface
 * const [r, err2] = await room.Join({ player: "ann" });
 * c.close();
 *
 * **Connecting.** `connect(url, options)` resolves once the gate's HELLO has come and, when
 * `options.auth` is given and the gate asks for AUTH, once the AUTH's REPLY has; it rejects
 * with a ClientError: the AUTH's ERROR (its code), a KICK (its reason as the code: `gate_full`,
 * `address_full`...), `unavailable` (no connection), `timeout` (`options.timeout`, default
 * 10 000 ms, for all of it) or `protocol`. A gate that does not ask for AUTH is sent none, and
 * `user` stays null; `c.login(args)` logs in later (the gate allows 3 tries a session). URLs:
 * `ws://` and `wss://` (the environment's WebSocket, or the `ws` package on Node 20),
 * `tcp://host:port` (Node only: the cluster's 4-byte length framing).
 *
 * **Errors are values.** `request()` gives `[result, null]` or `[null, err]` and never throws for
 * what the network or the gate does: `err.code` is the gate's (protocol.md 13.4), or `timeout`
 * (`opts.timeout`, default 10 000 ms), `disconnected` (not connected, or the connection dropped
 * before the answer), `overloaded` (`maxPending`, default 64, requests await answers already:
 * refused here, without sending), `bad_value`, `too_large` (over the gate's maxRequestBytes,
 * refused here: the gate would KICK). A wrong argument (a route without a dot, a bad option) is
 * the caller's bug: a TypeError naming it.
 *
 * **Liveness.** The client sends PING when it has sent nothing for the gate's heartbeatMs, and
 * closes the connection ("heartbeat_timeout") when nothing arrived for 3 x heartbeatMs. A frame
 * from the gate that breaks the protocol closes it too ("protocol").
 *
 * **Reconnecting** (`reconnect: true` or `{ retries = Infinity, delayMs = 250, maxDelayMs =
 * 10000 }`; off by default). After a drop the client emits "disconnect", waits (doubling from
 * delayMs up to maxDelayMs, jittered), connects again and re-sends the AUTH with the same args
 * (connect()'s, or the last successful login()'s), then emits "reconnect" with the new session's
 * id. **A reconnect is a new session**, with a new id: nothing bound to the old one is kept, not
 * on the gate (its channels, the `data` services set on it, its place in rooms) and not here
 * (requests pending at the drop fail `disconnected`; requests while reconnecting fail
 * `disconnected` at once, nothing is queued). The game re-joins what it had joined on
 * "reconnect". Reconnecting stops, with "close", after `retries` failed attempts, or at once for
 * a reason trying again would not cure: close(), a KICK `kicked`, `auth_failed` or `protocol`, or
 * an AUTH refused with a code that does not say "try later". The first connect() is one attempt.
 *
 * **Pushes before a listener.** Pushes that arrive before the first "message" listener is added
 * (such as one sent right after the AUTH, while connect() resolves) are held, up to 1024 of them
 * or 4 MiB, and handed to it when it is added.
 *
 * The browser bundle is dist/client/luanet-client.js (one ES module, cbor-x inlined, no Node
 * built-in; `npm run build` makes it with tools/build-client.mjs).
 */
import { Connection } from "./client/connection.js";
import { settingsOf, type ConnectOptions } from "./client/options.js";
import { parseGateUrl } from "./client/transport.js";

export { ClientError } from "./client/error.js";
export type { Connection, Client, ConnectionState, RequestOptions } from "./client/connection.js";
export type { ConnectionEvents } from "./client/events.js";
export type { User } from "./client/link.js";
export type { ConnectOptions, ReconnectOptions } from "./client/options.js";
export type { Reply } from "./client/pending.js";

/**
 * Connect to the gate at `url` (`ws://`, `wss://`, `tcp://host:port`). Resolves with the open
 * Connection; rejects with a ClientError (see above). Throws TypeError for a bad url or option.
 * @example const c = await connect("ws://127.0.0.1:3010", { auth: { token }, reconnect: true });
 */
export function connect(url: string, options?: ConnectOptions): Promise<Connection> {
  const address = parseGateUrl(url);
  const settings = settingsOf(options);
  return new Connection(address, settings).opened();
}
