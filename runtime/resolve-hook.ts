/**
 * ES module resolve hook (runs in Node's loader thread): "luanet" and "luanet/*" resolve to the
 * running copy of luanet. Installed by loader.ts only when a script is loaded as an ES module.
 * @internal
 */
let urls: Record<string, string> = {};

export function initialize(data: Record<string, string>): void {
  urls = data;
}

type Next = (specifier: string, context: unknown) => unknown;
export function resolve(specifier: string, context: unknown, next: Next): unknown {
  const url = urls[specifier];
  return url !== undefined ? { url, format: "module", shortCircuit: true } : next(specifier, context);
}
