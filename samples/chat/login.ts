// Login: the gate's auth function (StartGate({ auth: "Login.Verify" })). A client's AUTH args
// reach Verify; its answer's `uid` is bound to the session, the rest (`name`) to its data.
//   luanet samples/chat/login.ts                  (a process of its own)
//   yield* luanet.NewService("login.ts")          (a service in another script's process: world.ts)
//
// No real passwords: a player is whoever they say they are, so long as the name is a plain one.
// A real game would check `token` here (against its accounts, or a platform's signature) and
// throw LuanetError("auth_failed", ...) when it is wrong.
import type {} from "luanet/globals";
import { LuanetError } from "luanet";
import * as net from "luanet/net";
import type { LoginArgs, LoginResult } from "./contract.js";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);

/** Letters, digits, "_" and "-", 1 to 24 of them: a name that prints as itself in any log. */
const NAME = /^[\p{L}\p{N}_-]{1,24}$/u;

luanet.StartLocalService("Login", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.RegRPCFunction("Verify", (args: LoginArgs): LoginResult => {
  const name = typeof args === "object" && args !== null ? args.name : undefined;
  // The client sees the code and the message (its connect() rejects with them).
  if (typeof name !== "string" || !NAME.test(name)) {
    const got = typeof name === "string" ? JSON.stringify(name.slice(0, 40)) : typeof name;
    throw new LuanetError("bad_name", `a name is 1 to 24 letters, digits, "_" or "-", got ${got}`);
  }
  return { uid: name, name };
});
const registered = luanet.Register2Name(nameservice);

export default function* () {
  const err = yield* registered;
  if (err !== null) {
    luanet.log.error(`cannot register: ${err.code}: ${err.message}`);
    return luanet.StopService();
  }
  console.log("Login registered");
}
