/**
 * Loads the user's script in-process with tsx, so .ts, .mts, .js and .mjs all run and stack
 * traces point at the user's own lines.
 *
 * CommonJS first: tsx's require hooks cost ~40 ms at start-up, its ESM loader thread ~250 ms.
 * .mjs/.mts scripts, and ES-module scripts with top-level await, go through tsx's ESM loader.
 * Either way `luanet` and `luanet/*` resolve to this running copy of luanet, wherever the script is.
 *
 * @internal
 */
import { existsSync } from "node:fs";
import Module, { createRequire, register as registerEsmHook } from "node:module";
import { pathToFileURL } from "node:url";
import { register as registerCjs } from "tsx/cjs/api";
import { LuanetError } from "./errors.js";
import { publicModules } from "./package-info.js";

/** The script could not be loaded: missing, or a syntax error. `message` is one paragraph. */
export class ScriptLoadError extends LuanetError {
  constructor(message: string, options?: ErrorOptions) {
    super("script_load", message, options);
  }
}

type ModuleNamespace = { default?: unknown } & Record<string, unknown>;

/**
 * Load `file` (an absolute path). Its module body runs before the promise settles. `instance`
 * counts the loads of one file (luanet.NewService("room.ts") twice): each after the first
 * evaluates the file anew, so its module-level state is its own (the modules it imports are
 * shared, as in any Node program).
 */
export async function loadScript(file: string, instance = 1): Promise<ModuleNamespace> {
  if (!/\.m[jt]s$/.test(file)) {
    await installCjs();
    try {
      const require = createRequire(file);
      if (instance > 1) delete require.cache[require.resolve(file)];
      return require(file) as ModuleNamespace;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ERR_REQUIRE_ASYNC_MODULE") throw asLoadError(file, error);
    }
  }
  return importEsm(file, instance);
}

let cjsInstalled: Promise<void> | undefined;
function installCjs(): Promise<void> {
  return (cjsInstalled ??= (async () => {
    // tsx's require hook would compile luanet's own ES modules into second, CommonJS copies (a
    // second scheduler!). So require("luanet/...") is answered with the ES modules already loaded.
    const views = new Map<string, object>();
    for (const [name, path] of publicModules) {
      const namespace = (await import(pathToFileURL(path).href)) as object;
      views.set(name, Object.defineProperty({ ...namespace }, "__esModule", { value: true }));
    }
    registerCjs();
    const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
    const load = M._load;
    M._load = function (request: string, ...rest: unknown[]) {
      return views.get(request) ?? load.call(this, request, ...rest);
    };
  })());
}

let esmInstalled = false;
async function importEsm(file: string, instance: number): Promise<ModuleNamespace> {
  if (!esmInstalled) {
    esmInstalled = true;
    const { register } = await import("tsx/esm/api");
    register();
    // Registered after tsx, so it runs first: luanet/* resolves to the modules already loaded.
    const urls = Object.fromEntries([...publicModules].map(([name, path]) => [name, pathToFileURL(path).href]));
    registerEsmHook("./resolve-hook.js", import.meta.url, { data: urls });
  }
  try {
    const url = pathToFileURL(file).href;
    return (await import(instance > 1 ? `${url}?luanet-instance=${instance}` : url)) as ModuleNamespace;
  } catch (error) {
    throw asLoadError(file, error);
  }
}

/** tsx names an .mts/.cts file .ts in its transform errors: find the file that exists. */
function realPath(reported: string): string {
  if (existsSync(reported)) return reported;
  return [".mts", ".cts"].map((ext) => reported.replace(/\.ts$/, ext)).find((f) => existsSync(f)) ?? reported;
}

/** Turn a syntax or transform error into one paragraph naming the file and line; pass others on. */
function asLoadError(file: string, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  // tsx/esbuild: "Transform failed with 1 error:\n/path/x.ts:4:0: ERROR: Expected ")" but found end of file"
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(error.message);
  if (esbuild !== null) {
    const hint = esbuild[4]!.startsWith("Top-level await")
      ? " (top-level await needs an ES module: name the script .mts, or put it under a package.json with \"type\": \"module\")"
      : "";
    return new ScriptLoadError(`syntax error in ${realPath(esbuild[1]!)}:${esbuild[2]}:${Number(esbuild[3]) + 1}: ${esbuild[4]}${hint}`, { cause: error });
  }
  // V8: the stack starts with "file:line" (a file URL for ES modules) then the source line and a caret.
  if (error instanceof SyntaxError) {
    const where = /^(?:file:\/\/)?(\/[^\n]*?):(\d+)\n/.exec(error.stack ?? "");
    const place = where === null ? file : `${decodeURIComponent(where[1]!)}:${where[2]}`;
    return new ScriptLoadError(`syntax error in ${place}: ${error.message}`, { cause: error });
  }
  return error;
}
