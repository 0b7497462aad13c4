// The lobby: starts the three rooms as services of this one process (each with its own listener
// and registration, so callers see three members either way). After `luanet nameservice &`:
//   luanet samples/groups/lobby.ts &
//   luanet samples/groups/client.ts
// For rooms in processes of their own (what real balancing across cores looks like), start
// `luanet samples/groups/room.ts Room1` (Room2, Room3) instead; demo.ts does either.
import type {} from "luanet/globals";

export default function* () {
  const rooms: string[] = [];
  // NewService returns once the room's top level ran and its StartLocalService, Register2Name
  // and JoinGroup are done: after the loop, all three are members of "Room".
  for (const name of ["Room1", "Room2", "Room3"]) rooms.push((yield* luanet.NewService("room.ts", name))!);
  console.log(`lobby: ${rooms.join(", ")} are up`);
}
