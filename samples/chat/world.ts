// The whole chat game but the name service in one process: Login, the rooms Room1, Room2 and
// Room3 (the group Room) and the gate Gate1, each a service of its own (listener, registration),
// started with luanet.NewService. After `luanet nameservice &`:
//   luanet samples/chat/world.ts [ws-addr [http-addr]]      (defaults 127.0.0.1:3010 127.0.0.1:3000)
// then open the page URL it prints. For a process per service, start login.ts, room.ts Room1
// (Room2, Room3) and gate.ts by hand instead; demo.ts does either, with a name service.
import type {} from "luanet/globals";

export default function* (ws = "127.0.0.1:3010", http = "127.0.0.1:3000") {
  // NewService returns once the service's top level ran and its start-up (listener,
  // registration, group membership, the gate's listener) is done. The gate goes last: the line
  // it prints with the page's URL then says that everything is up.
  yield* luanet.NewService("login.ts");
  for (const room of ["Room1", "Room2", "Room3"]) yield* luanet.NewService("room.ts", room);
  yield* luanet.NewService("gate.ts", "Gate1", ws, http);
}
