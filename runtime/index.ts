/**
 * `import { luanet, Sche } from "luanet"`: the same objects a script gets as globals.
 */
export { luanet } from "./process.js";
export type { Luanet } from "./luanet.js";
export { Sche, Task, type Scheduler, type TaskStatus, type Operation, type Instruction } from "./scheduler/index.js";
export { LuanetError, RPCError, TaskHaltedError, ErrorCode, type AnyCode } from "./errors.js";
export type { RPCResult, CallContext, Message, CallOptions, SendOptions, Balance, BroadcastResult, GroupOptions, Result, DisconnectHandler, DisconnectReason } from "./service/api.js";
export type { Client, Implementation } from "./service/typed.js";
export type { Instance } from "./service/instance.js";
export type { Channel, ChannelBroadcast, ClientSession, GateAddresses, GateOptions, PushOptions, RouteOptions, SessionEnd, SessionEndHandler } from "./gate/api.js";
export type { NetAddr, SocketType } from "../stdlib/net.js";
export { AF_INET, AF_INET6, AF_LOCAL, SOCK_DGRAM, SOCK_STREAM } from "../stdlib/net.js";
