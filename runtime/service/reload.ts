/**
 * Hot reload of one service (`luanet reload`, the reserved function `luanet.reload`): its script
 * is loaded anew, with a fresh graph of the user's files (loader.ts reloadScript), its module
 * body running in a task of the service with `luanet.reloading` true. What the body starts again
 * is the service it runs already: StartLocalService with the same name and type gives the address
 * it listens on, Register2Name the registration it holds, JoinGroup of a group it is in succeeds.
 * The functions it registers are staged and swapped in all at once when the body has run without
 * error: calls that arrive after the swap run the new code, calls running finish on the old. A
 * body that fails (a syntax error, a throw or a rejected await at top level) changes nothing.
 *
 * The default export is not run again: it is where a script's loops run, and those of the old
 * code are running still. Connections, mailbox, groups, tasks and luanet.State stay.
 * @internal
 */
import { LuanetError } from "../errors.js";
import type { Instruction } from "../scheduler/instruction.js";
import type { Handler } from "./dispatch.js";
import type { Service } from "./service.js";

/** What `luanet.reload` answers. */
export interface ReloadResult {
  /** 1 is the code the service started with; each reload that succeeded adds one. */
  generation: number;
  /** The user's files of the new graph (absolute paths): what `luanet up --watch` watches. */
  files: string[];
  /** How long the reload took. */
  ms: number;
}

/** Load the script's new graph (its body runs in the calling task): `known` carries the files
 * of earlier attempts from one reload to the next. */
export type LoadAnew = (known: Set<string>) => Generator<Instruction, { files: string[] }, unknown>;

export class Reloads {
  generation = 1;
  /** While a reload's body runs: the functions it registers. */
  private staged: Map<string, Handler> | null = null;
  /** The user's files the last attempt loaded (CommonJS evicts them from require.cache). */
  private readonly known = new Set<string>();

  constructor(private readonly service: Service) {}

  /** True while a reload's module body runs. */
  get reloading(): boolean {
    return this.staged !== null;
  }

  /** RegRPCFunction while a reload's body runs: staged (true); false when none runs. */
  stage(name: string, fn: Handler): boolean {
    this.staged?.set(name, fn);
    return this.staged !== null;
  }

  /** One reload, in the calling task of the service: `load` runs the new body. */
  *run(load: LoadAnew): Generator<Instruction, ReloadResult, unknown> {
    const service = this.service;
    if (this.staged !== null) throw new LuanetError("overloaded", `a reload of ${service} is running already: try again once it is done`);
    const started = performance.now();
    const staged = (this.staged = new Map());
    let files: string[];
    try {
      ({ files } = yield* load(this.known));
    } finally {
      this.staged = null;
    }
    this.swap(staged);
    this.generation++;
    const ms = Math.round(performance.now() - started);
    service.log.info(`${service} reloaded: generation ${this.generation}, ${files.length} files, ${ms} ms`);
    return { generation: this.generation, files, ms };
  }

  /** The staged functions replace the service's, all at once; the registration is published
   * again if the set of names changed. */
  private swap(staged: Map<string, Handler>): void {
    const handlers = this.service.dispatcher.handlers;
    const removed = [...handlers.keys()].filter((name) => !staged.has(name));
    const added = [...staged.keys()].filter((name) => !handlers.has(name));
    handlers.clear();
    for (const [name, fn] of staged) handlers.set(name, fn);
    if (removed.length > 0) this.service.log.warn(`${this.service} reloaded without ${removed.join(", ")}: calls to them now fail no_such_function`);
    if (removed.length > 0 || added.length > 0) this.service.republish();
  }
}
