// The contract of a room (samples/groups/): what room.ts offers and client.ts calls, with its
// types. A group is called through the same contract as one service: luanet.Client<Room>("Room").
export interface Room {
  /** Take a seat; joining again gives the same seat, so a retry is harmless (idempotent). */
  Join(a: { player: string }): { room: string; seat: number };
  Say(a: { player: string; text: string }): { room: string; heard: number };
  Stats(): { room: string; players: string[]; said: number; notices: number };
}
