// Bots: BOTS players (luanet.cluster.json's "env") log in, enter the lobby and talk in their room
// without pause. Every 5 s one line: calls that succeeded and failed, per room.
import type {} from "luanet/globals";
import type { Lobby, Login, Room } from "./contract.js";

const bots = Number(process.env.BOTS ?? 4);
let ok = 0;
let failed = 0;
const byRoom = new Map<string, number>();
const lastError = new Map<string, number>();

function* player(n: number) {
  const player = `bot${n}`;
  for (;;) {
    const [login, e1] = yield* luanet.Client<Login>("Login").Login({ player });
    const [seat, e2] = e1 === null ? yield* luanet.Client<Lobby>("Lobby").Enter({ player, token: login.token }) : [null, e1];
    if (e2 !== null) {
      failed++;
      lastError.set(e2.code, (lastError.get(e2.code) ?? 0) + 1);
      yield* Sche.Sleep(200);
      continue;
    }
    for (let i = 0; i < 20; i++) {
      const [said, err] = yield* luanet.Client<Room>("Room").Say({ player, text: "hello" });
      if (err !== null) {
        failed++;
        lastError.set(err.code, (lastError.get(err.code) ?? 0) + 1);
        yield* Sche.Sleep(100);
        continue;
      }
      ok++;
      byRoom.set(said.room, (byRoom.get(said.room) ?? 0) + 1);
      yield* Sche.Sleep(20);
    }
    void seat;
  }
}

for (let n = 1; n <= bots; n++) Sche.Spawn(player, n);
Sche.Spawn(function* report() {
  for (;;) {
    yield* Sche.Sleep(5000);
    const rooms = [...byRoom].sort().map(([r, n]) => `${r}=${n}`).join(" ");
    const errors = [...lastError].map(([c, n]) => `${c}=${n}`).join(" ");
    console.log(`calls ok ${ok}, failed ${failed}${errors ? ` (${errors})` : ""}; ${rooms}`);
  }
});
