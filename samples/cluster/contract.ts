// The contracts of the sample cluster (luanet.cluster.json): what each service offers.
export interface Login {
  /** A token for `player`, checked by the lobby. */
  Login(a: { player: string }): { token: string };
  Check(a: { player: string; token: string }): boolean;
}
export interface Lobby {
  /** Seat `player` in a room: always the same room for the same player (calls keyed by player). */
  Enter(a: { player: string; token: string }): { room: string; seat: number };
}
export interface Room {
  Join(a: { player: string }): { room: string; seat: number };
  Say(a: { player: string; text: string }): { room: string; said: number };
}
