// What the chat sample's players and services say to each other (samples/chat/): the functions
// clients call through the gate (routes "Room.Join", "Room.Say"), what Login's Verify takes and
// binds, and the pushes a page gets (its client's "message" event: route, then msg).

/** Login.Verify: the AUTH a client sends (connect(url, { auth: { name } })). */
export interface LoginArgs {
  name: string;
  /** Unused: where a real game would take a password or a platform's token. */
  token?: string;
}
/** What Verify answers: the gate binds `uid` to the session, and `name` into its data. */
export interface LoginResult {
  uid: string;
  name: string;
}

/** The room functions a client may call (RegClientFunction), and the one it may not. */
export interface Room {
  /** Enter room number `room` (leaving the one the player was in); again: no change. */
  Join(a: { room: number }): JoinResult;
  /** Say `text` (1 to 500 characters) to everyone in the player's room. */
  Say(a: { text: string }): { sent: number };
  /** Internal (RegRPCFunction, not for clients): the names this member holds in `room`. */
  Members(a: { room: number }): string[];
}

export interface JoinResult {
  room: number;
  /** Everyone in the room, on every member of the group Room, sorted. */
  members: string[];
  /** The member of the group Room that holds this player (the uid's key picked it). */
  server: string;
}

/** Push routes and what each carries: `c.on("message", (route, msg) => ...)`. */
export interface Pushes {
  joined: { room: number; name: string };
  left: { room: number; name: string; reason: string };
  said: { room: number; from: string; text: string };
}
