/**
 * The names gates and session watchers answer to and gather under (docs/protocol.md 13.7): in a
 * file of their own, so that a script that never starts a gate loads none of the gate's code
 * (api.ts imports gate.ts, and with it ws and node:http, only in StartGate).
 * @internal
 */
export const GATES_GROUP = "luanet.gates";
export const WATCHERS_GROUP = "luanet.session-watchers";
export const EVENT_FUNCTION = "luanet.sessions.event";
export const GATE_FUNCTIONS = {
  push: "luanet.gate.push", kick: "luanet.gate.kick", set: "luanet.gate.set",
  channel: "luanet.gate.channel", broadcast: "luanet.gate.broadcast", sessions: "luanet.gate.sessions",
} as const;
