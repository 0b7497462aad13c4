import type {} from "luanet/globals";
// Two tasks hand a ball back and forth with Block/WakeUp, a third naps with Sleep, and the root
// task joins them all. Run it: luanet samples/pingpong.ts [rounds]
import type { Task } from "luanet/scheduler";

export default function* main(rounds = "5") {
  const n = Number(rounds);
  let ball = 0;
  const players: Task<number>[] = [];

  function* player(name: string, self: number) {
    while (ball < n) {
      yield* Sche.Block(); // wait for the ball
      if (ball >= n) break;
      ball++;
      console.log(`${name} hits the ball (${ball})`);
      Sche.WakeUp(players[1 - self]!);
    }
    Sche.WakeUp(players[1 - self]!); // let the other one see the game is over
    return ball;
  }

  players.push(Sche.Spawn(player, "ping", 0), Sche.Spawn(player, "pong", 1));
  const napper = Sche.Spawn(function* () {
    yield* Sche.Sleep(20);
    return "rested";
  });

  yield* Sche.Yield(); // let both players reach their Block
  Sche.WakeUp(players[0]!); // serve
  const [a, b, nap] = [yield* players[0]!, yield* players[1]!, yield* napper];
  console.log(`game over after ${a} hits (${b}), napper ${nap}`);
}
