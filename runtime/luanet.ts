/**
 * The `luanet` object: the global a script uses to reach the runtime.
 */
import { stopping } from "./lifecycle.js";
import { log } from "./log.js";
import { version } from "./package-info.js";
import {
  Exit, GetRemoteFuncProvider, RegRPCFunction, Register2Name, RPCCall, SendMsg, StartLocalService,
} from "./service/api.js";
import { configure } from "./service/config.js";
import { GetMsg } from "./service/mailbox.js";

export interface Luanet {
  /** This luanet's version. */
  readonly version: string;
  /** The script being run (absolute path), or null when luanet is used as a library. */
  readonly script: string | null;
  /** The arguments after the script's name on the command line. */
  readonly args: readonly string[];
  /** True once this process has begun to shut down (luanet.Exit, SIGINT, SIGTERM, nothing left
   * to run): its tasks are being halted and its connections closed. */
  readonly stopping: boolean;
  /** The logger: `luanet.log.info("listening", { port })`. */
  readonly log: typeof log;
  readonly StartLocalService: typeof StartLocalService;
  readonly Register2Name: typeof Register2Name;
  readonly RegRPCFunction: typeof RegRPCFunction;
  readonly RPCCall: typeof RPCCall;
  readonly SendMsg: typeof SendMsg;
  readonly GetMsg: typeof GetMsg;
  readonly GetRemoteFuncProvider: typeof GetRemoteFuncProvider;
  readonly Exit: typeof Exit;
  /** Change limits and defaults: `luanet.Configure({ rpcTimeout: 2000 })`. */
  readonly Configure: typeof configure;
}

const state = { script: null as string | null, args: [] as readonly string[] };

export const luanet: Luanet = {
  version,
  get script() {
    return state.script;
  },
  get args() {
    return state.args;
  },
  get stopping() {
    return stopping();
  },
  log,
  StartLocalService,
  Register2Name,
  RegRPCFunction,
  RPCCall,
  SendMsg,
  GetMsg,
  GetRemoteFuncProvider,
  Exit,
  Configure: configure,
};

/** Set by the start module. @internal */
export function setScript(script: string, args: readonly string[]): void {
  state.script = script;
  state.args = Object.freeze([...args]);
}
