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
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { register as registerCjs } from "tsx/cjs/api";
import { describe, LuanetError } from "./errors.js";
import { packageRoot, publicModules } from "./package-info.js";

/** The script could not be loaded: missing, a syntax error, or (on a reload) a throw at top
 * level. `message` is one paragraph naming the file and line. */
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

/** The ES module hooks, installed once: tsx's and resolve-hook.ts, with the port it posts the
 * files of a reload's graph on. */
class EsmHooks {
  private readonly files = new Map<number, Set<string>>();
  private readonly flushed = new Map<number, () => void>();
  constructor(private readonly port: MessagePort) {
    port.on("message", (message: { tag?: number; url?: string; flushed?: number }) => {
      if (message.flushed !== undefined) return this.flushed.get(message.flushed)?.();
      const files = this.files.get(message.tag!);
      files?.add(fileURLToPath(message.url!.split("?")[0]!));
    });
    port.unref();
  }

  static async install(): Promise<EsmHooks> {
    const { register } = await import("tsx/esm/api");
    register();
    // Registered after tsx, so it runs first: luanet/* resolves to the modules already loaded.
    const urls = Object.fromEntries([...publicModules].map(([name, path]) => [name, pathToFileURL(path).href]));
    const { port1, port2 } = new MessageChannel();
    registerEsmHook("./resolve-hook.js", import.meta.url, { data: { urls, port: port2 }, transferList: [port2] });
    return new EsmHooks(port1);
  }

  /** Collect the files the hook posts for `tag`. */
  watch(tag: number): void {
    this.files.set(tag, new Set());
  }

  /** The files posted for `tag`: every one the hook posted before it answers the flush (at most `ms` waited). */
  async collect(tag: number, ms = 2000): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.flushed.set(tag, resolve);
      timer = setTimeout(resolve, ms);
      this.port.postMessage({ flush: tag });
    });
    clearTimeout(timer);
    this.flushed.delete(tag);
    const files = [...(this.files.get(tag) ?? [])];
    this.files.delete(tag);
    return files;
  }
}

let esm: Promise<EsmHooks> | undefined;
async function importEsm(file: string, instance: number): Promise<ModuleNamespace> {
  await (esm ??= EsmHooks.install());
  try {
    const url = pathToFileURL(file).href;
    return (await import(instance > 1 ? `${url}?luanet-instance=${instance}` : url)) as ModuleNamespace;
  } catch (error) {
    throw asLoadError(file, error);
  }
}

/** A reload's new graph: the script's exports, and the user's files it loaded (absolute paths). */
export interface Reloaded {
  exports: ModuleNamespace;
  files: string[];
}

/** A user's file: not in node_modules, not one of luanet's own. */
const isUserFile = (path: string): boolean => path.startsWith("/") && !path.includes("/node_modules/") && !path.startsWith(packageRoot + "dist/");

/** The user's files a CommonJS module loaded, itself included. */
function cjsTree(module: NodeModule | undefined, files = new Set<string>()): Set<string> {
  if (module === undefined || files.has(module.filename) || !isUserFile(module.filename)) return files;
  files.add(module.filename);
  for (const child of module.children) cjsTree(child, files);
  return files;
}

/**
 * Load `file` anew for a hot reload, with a fresh graph of the user's own files (never luanet's
 * modules, never node_modules), its module body running before the promise settles. The same
 * road as loadScript: CommonJS drops the user's files from require.cache (those of the tree the
 * script loaded, and `known`, what earlier attempts loaded) and requires again; an ES module is
 * imported as `file?luanet-reload=<tag>`, a tag never used before, which resolve-hook.ts hands on
 * to the user's files it imports. `known` gets the files of this attempt, failed or not. A
 * failure is a ScriptLoadError naming the file and line: a syntax error, or a throw (a rejected
 * top-level await) at the top level of the script or of a file it imports.
 */
export async function reloadScript(file: string, tag: number, known: Set<string>): Promise<Reloaded> {
  if (!/\.m[jt]s$/.test(file)) {
    await installCjs();
    const require = createRequire(file);
    const path = require.resolve(file);
    for (const f of [...cjsTree(require.cache[path]), ...known]) delete require.cache[f];
    const before = new Set(Object.keys(require.cache));
    try {
      const exports = require(file) as ModuleNamespace;
      const files = [...cjsTree(require.cache[path])];
      known.clear();
      for (const f of files) known.add(f);
      return { exports, files };
    } catch (error) {
      for (const f of Object.keys(require.cache)) if (!before.has(f) && isUserFile(f)) known.add(f);
      if ((error as NodeJS.ErrnoException).code !== "ERR_REQUIRE_ASYNC_MODULE") throw asReloadError(file, error);
    }
  }
  const hooks = await (esm ??= EsmHooks.install());
  hooks.watch(tag);
  let exports: ModuleNamespace;
  try {
    exports = (await import(`${pathToFileURL(file).href}?luanet-reload=${tag}`)) as ModuleNamespace;
  } catch (error) {
    await hooks.collect(tag);
    throw asReloadError(file, error);
  }
  return { exports, files: await hooks.collect(tag) };
}

/** A reload's failure as a ScriptLoadError: a syntax error (asLoadError), or a throw at top
 * level, placed at the first line of the user's files in its stack. */
function asReloadError(file: string, error: unknown): ScriptLoadError {
  const loadError = asLoadError(file, error);
  if (loadError instanceof ScriptLoadError) return loadError;
  if (!(error instanceof Error)) return new ScriptLoadError(`${file} threw at top level: ${describe(error)}`);
  const frames = (error.stack ?? "").split("\n").slice(1);
  let place = file;
  for (const frame of frames) {
    const where = /(?:\(|at )(?:file:\/\/)?(\/[^():?]+)(?:\?[^:)]*)?:(\d+):(\d+)\)?$/.exec(frame.trim());
    if (where !== null && isUserFile(decodeURIComponent(where[1]!))) {
      place = `${decodeURIComponent(where[1]!)}:${where[2]}`;
      break;
    }
  }
  return new ScriptLoadError(`${place}: threw at top level: ${error.name === "Error" ? "" : `${error.name}: `}${error.message}`, { cause: error });
}

/** tsx names an .mts/.cts file .ts in its transform errors: find the file that exists. */
function realPath(reported: string): string {
  reported = reported.replace(/\?.*$/, ""); // a reload's ?luanet-reload=N
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
    const place = where === null ? file : `${decodeURIComponent(where[1]!.replace(/\?.*$/, ""))}:${where[2]}`;
    return new ScriptLoadError(`syntax error in ${place}: ${error.message}`, { cause: error });
  }
  return error;
}
