/**
 * ES module resolve hook (runs in Node's loader thread): "luanet" and "luanet/*" resolve to the
 * running copy of luanet. Installed by loader.ts only when a script is loaded as an ES module.
 *
 * Hot reload: Node never evicts an ES module, so a reload imports the script as
 * `file?luanet-reload=N`, and this hook hands `?luanet-reload=N` on to every user file that a URL
 * carrying it imports (never to node_modules or luanet's own modules): generation N is a graph
 * of new modules. Each such file is posted on `port`, so the reload can report the files of its
 * graph (loader.ts); a "flush" asked on the port is answered after every file posted before it.
 * (`?luanet-instance=N`, NewService's second copy of a script, stays on the script alone.)
 * @internal
 */
import type { MessagePort } from "node:worker_threads";

export interface HookData {
  urls: Record<string, string>;
  port: MessagePort;
}

const RELOAD = "luanet-reload";
let urls: Record<string, string> = {};
let port: MessagePort | null = null;

export function initialize(data: HookData): void {
  urls = data.urls;
  port = data.port;
  port.on("message", (message: { flush: number }) => port!.postMessage({ flushed: message.flush }));
  port.unref();
}

/** The reload tag of `url`, or null. */
function tagOf(url: string | undefined): string | null {
  if (url === undefined || !url.startsWith("file:") || !url.includes(RELOAD)) return null;
  return new URL(url).searchParams.get(RELOAD);
}

const isUserFile = (url: string): boolean => url.startsWith("file:") && !url.includes("/node_modules/") && !Object.values(urls).includes(url.split("?")[0]!);

type Next = (specifier: string, context: { parentURL?: string }) => unknown;
export async function resolve(specifier: string, context: { parentURL?: string }, next: Next): Promise<unknown> {
  const own = urls[specifier];
  if (own !== undefined) return { url: own, format: "module", shortCircuit: true };
  const resolved = (await next(specifier, context)) as { url: string };
  const tag = tagOf(context.parentURL);
  if (tag !== null && isUserFile(resolved.url)) {
    const url = new URL(resolved.url);
    url.searchParams.set(RELOAD, tag);
    return posted({ ...resolved, url: url.href });
  }
  return posted(resolved);
}

/** Post a user file of a reload's graph (the script's own URL carries the tag already). */
function posted(resolved: { url: string }): unknown {
  const tag = tagOf(resolved.url);
  if (tag !== null && isUserFile(resolved.url)) port?.postMessage({ tag: Number(tag), url: resolved.url });
  return resolved;
}
