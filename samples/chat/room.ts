// A room server: one member of the group "Room". Its name comes from its argument:
//   luanet samples/chat/room.ts Room1              (a process of its own)
//   yield* luanet.NewService("room.ts", "Room1")   (a service in another script's process: world.ts)
//
// Players reach it through the gate with the routes "Room.Join" and "Room.Say". The gate keys a
// route to a group by the session's uid, so a player always lands on the same member while the
// members stay the same; but two players in the same room *number* may land on different
// members (Room1 holds ann, Room3 holds bob, both in room 7). So:
//   - the chat itself needs no member to know everyone: each room number is a channel,
//     `room-7`, and a channel is held by the gates, not by a member; a broadcast from any
//     member reaches every session in it on every gate;
//   - the player's room number is put in the session's data (luanet.Session.set), so Say knows
//     the room from ctx.session alone, whichever member serves it;
//   - the names in a room live with the member that holds each player (the one its uid keys
//     to); Join's list of members is asked of every member of the group (Members, an internal
//     function: a client calling "Room.Members" gets no_such_function);
//   - a session's end is told to every member (OnSessionEnd); the one holding the player drops
//     it and says "left". The gate has already taken the session out of its channels.
// If a member dies, the names it held are lost with it (a name list of a room may then miss
// them), and those players' next Join lands on another member; their chat goes on unchanged,
// since the channel and the session's data are at the gate.
import type {} from "luanet/globals";
import { LuanetError, type CallContext, type ClientSession, type SessionEnd } from "luanet";
import * as net from "luanet/net";
import type { JoinResult, Pushes } from "./contract.js";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);
const me = luanet.args[0] ?? "Room1";
const MAX_TEXT = 500;
const MAX_ROOM = 9999;

/** The players this member holds: room number → (session id → name). */
const rooms = new Map<number, Map<string, string>>();
/** And the other way: session id → its room number. */
const where = new Map<string, number>();

const channel = (room: number) => luanet.Channel(`room-${room}`);

/** The caller's session: these functions are for players, through a gate. */
function player(ctx: CallContext, func: string): ClientSession {
  if (ctx.session === null) throw new LuanetError("bad_request", `Room.${func} is called by players through a gate (it reads ctx.session); ${ctx.from} is a service`);
  return ctx.session;
}

function roomNumber(args: unknown): number {
  const room = typeof args === "object" && args !== null ? (args as { room?: unknown }).room : undefined;
  if (typeof room !== "number" || !Number.isInteger(room) || room < 1 || room > MAX_ROOM) {
    throw new LuanetError("bad_request", `room must be a whole number from 1 to ${MAX_ROOM}, got ${typeof room === "number" ? room : typeof room}`);
  }
  return room;
}

/** Put the player in `room` here (synchronously, so a second Join of the same session sees it). */
function hold(sessionId: string, name: string, room: number): void {
  let names = rooms.get(room);
  if (names === undefined) rooms.set(room, (names = new Map()));
  names.set(sessionId, name);
  where.set(sessionId, room);
}

/** Take the player out; its name, or null if this member did not hold it. */
function drop(sessionId: string): { room: number; name: string } | null {
  const room = where.get(sessionId);
  if (room === undefined) return null;
  where.delete(sessionId);
  const names = rooms.get(room)!;
  const name = names.get(sessionId)!;
  names.delete(sessionId);
  if (names.size === 0) rooms.delete(room);
  return { room, name };
}

function* say<R extends keyof Pushes>(room: number, route: R, msg: Pushes[R]) {
  const { failed, err } = yield* channel(room).broadcast(msg, { route });
  if (err !== null) luanet.log.warn(`room ${room}: cannot list the gates: ${err.code}: ${err.message}`);
  for (const f of failed) luanet.log.warn(`room ${room}: ${route} did not reach ${f.gate}: ${f.err.code}`);
}

/** Everyone in `room`, asked of every member of the group (this one included), sorted. */
function* everyone(room: number) {
  const [members, err] = yield* luanet.GetGroupMembers("Room");
  if (err !== null) throw err;
  const asks = members.map((member) => Sche.Spawn(function* () {
    const [names, e] = yield* luanet.RPCCall<string[]>(member, "Members", { room }, { timeout: 2000 });
    if (e !== null) luanet.log.warn(`Members of room ${room} at ${member}: ${e.code}: ${e.message}`);
    return names ?? [];
  }));
  const all: string[] = [];
  for (const ask of asks) all.push(...(yield* ask));
  return [...new Set(all)].sort();
}

luanet.StartLocalService(me, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));

luanet.RegClientFunction("Join", function* (args: unknown, ctx: CallContext) {
  const s = player(ctx, "Join");
  const room = roomNumber(args);
  const name = String(s.data.name ?? s.uid);
  const was = where.get(s.id);
  if (was !== room) {
    drop(s.id);
    hold(s.id, name, room);
    if (was !== undefined) {
      yield* channel(was).remove(s.id);
      yield* say(was, "left", { room: was, name, reason: "moved" });
    }
    const err = (yield* channel(room).add(s.id)) ?? (yield* luanet.Session.set(s.id, "room", room));
    if (err !== null) {
      drop(s.id); // no_such_session: the player left meanwhile
      throw err;
    }
    yield* say(room, "joined", { room, name });
  }
  const result: JoinResult = { room, members: yield* everyone(room), server: me };
  return result;
});

luanet.RegClientFunction("Say", function* (args: unknown, ctx: CallContext) {
  const s = player(ctx, "Say");
  const text = typeof args === "object" && args !== null ? (args as { text?: unknown }).text : undefined;
  if (typeof text !== "string" || text.trim() === "" || text.length > MAX_TEXT) {
    throw new LuanetError("bad_request", `text must be 1 to ${MAX_TEXT} characters, got ${typeof text === "string" ? `${text.length} characters` : typeof text}`);
  }
  // The room is in the session's data (Join put it there): any member can serve Say.
  const room = s.data.room;
  if (typeof room !== "number") throw new LuanetError("not_in_room", "Join a room before you Say anything");
  const { sent, err } = yield* channel(room).broadcast({ room, from: String(s.data.name ?? s.uid), text }, { route: "said" });
  if (err !== null) throw err;
  return { sent };
});

// Internal: other members ask it for Join's list; a client cannot (not a client function).
luanet.RegRPCFunction("Members", (args: unknown) => [...(rooms.get(roomNumber(args))?.values() ?? [])]);

luanet.OnSessionEnd(function* (end: SessionEnd) {
  const gone = drop(end.id);
  if (gone !== null) yield* say(gone.room, "left", { room: gone.room, name: gone.name, reason: end.reason });
});

luanet.Register2Name(nameservice);
// Membership is part of the registration: it ends when the room stops or dies. Started at the
// top level, so world.ts's NewService waits for it; the default export waits for it too.
const joined = luanet.JoinGroup("Room");

export default function* () {
  const err = yield* joined;
  if (err !== null) {
    luanet.log.error(`cannot join the group Room: ${err.code}: ${err.message}`);
    return luanet.StopService();
  }
  console.log(`${me} joined the group Room`);
}
