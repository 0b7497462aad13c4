// Typed calls: `luanet samples/typed/main.ts` starts a room in this process and calls it through
// luanet.Client<Room>, whose methods take and give the contract's types. No name service needed:
// calls between services of one process skip the registry.
import type {} from "luanet/globals";
import type { Room } from "./contract.js";

export default function* () {
  const name = yield* luanet.NewService("room.ts", "1");
  const room = luanet.Client<Room>(name!);
  for (const player of ["ann", "bob"]) {
    const [joined, err] = yield* room.Join({ player });
    if (err !== null) throw err;
    console.log(`${player} has seat ${joined.seat}`);
  }
  yield* room.Say({ text: "hello" });
  const [players] = yield* room.Players();
  console.log(`players: ${players?.join(", ")}`);
  luanet.Exit(0);
}
