// The contract of a room service: what it offers, with its types. Both sides import it.
export interface Room {
  Join(a: { player: string }): { seat: number };
  Say(a: { text: string }): void;
  Players(): string[];
}
