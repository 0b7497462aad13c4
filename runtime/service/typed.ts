/**
 * Typed calls: a contract, a TypeScript interface of a service's functions, gives typed calls on
 * both sides with no code generation. The caller's `luanet.Client<Room>("Room")` has one method
 * per function, taking that function's argument and giving `[result, err]`; the callee's
 * `luanet.RegRPCFunctions<Room>({...})` must implement exactly those functions, with those types.
 * A wrong name or argument is a compile error where it is written.
 *
 *     interface Room { Join(a: { player: string }): { seat: number }; Say(a: { text: string }): void }
 */
import { describe } from "../errors.js";
import type { Operation } from "../scheduler/instruction.js";
import type { CallOptions } from "./api.js";
import type { CallContext } from "./dispatch.js";
import type { RPCResult } from "./sessions.js";

/** The argument of a contract's function (no argument: null). */
export type ArgOf<F> = F extends () => unknown ? null | undefined : F extends (args: infer A) => unknown ? A : never;
/** What a contract's function gives the caller: its return type, unwrapped from an operation or promise. */
export type ResultOf<F> = F extends (...args: never[]) => infer R ? (R extends Operation<infer T> ? T : R extends PromiseLike<infer T> ? T : R) : never;

/** The caller's view of a contract `C`: `yield* client.Join({ player })` is `[result, err]`. */
export type Client<C> = {
  readonly [K in keyof C & string]: (...call: ArgOf<C[K]> extends null | undefined ? [args?: null, opts?: CallOptions] : [args: ArgOf<C[K]>, opts?: CallOptions]) => Operation<RPCResult<ResultOf<C[K]>>>;
};

/** The callee's side of a contract `C`: every function, plain or a generator, with its types. */
export type Implementation<C> = {
  readonly [K in keyof C & string]: (args: ArgOf<C[K]>, ctx: CallContext) => ResultOf<C[K]> | Operation<ResultOf<C[K]>> | PromiseLike<ResultOf<C[K]>>;
};

type Call = (service: string, func: string, args: unknown, opts: CallOptions | undefined) => Operation<RPCResult<unknown>>;

/** A client of `service` whose methods call through `call` (luanet.RPCCall). */
export function clientOf<C>(service: string, call: Call): Client<C> {
  if (typeof service !== "string" || service === "") throw new TypeError(`luanet.Client(service): service must be a non-empty string, got ${describe(service)}`);
  const methods = new Map<string, (args?: unknown, opts?: CallOptions) => Operation<RPCResult<unknown>>>();
  return new Proxy(Object.freeze({}), {
    get(_, func) {
      // Not a function of the contract: symbols (inspection, iteration) and `then` (so that a
      // client is never taken for a promise).
      if (typeof func !== "string" || func === "then") return undefined;
      let method = methods.get(func);
      if (method === undefined) methods.set(func, (method = (args?: unknown, opts?: CallOptions) => call(service, func, args ?? null, opts)));
      return method;
    },
  }) as Client<C>;
}
