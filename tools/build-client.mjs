/**
 * The browser bundle of luanet/client: dist/client/luanet-client.js, one ES module with cbor-x
 * inlined and no Node built-in, for a page to import as it is
 * (`<script type="module">import { connect } from "./luanet-client.js"</script>`).
 *
 * It bundles what tsc wrote (dist/stdlib/client.js), so `npm run build` runs it after tsc.
 * platform "browser" takes package.json's "browser" map: stdlib/client/node.js (the `ws`
 * package and node:net, imported dynamically) becomes node.browser.js, which has neither. The
 * bundle is then checked: a `require(`, a `node:` import or an import of `ws` in it means a Node
 * path leaked into it, and the build fails.
 */
import { build } from "esbuild";
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outfile = `${root}dist/client/luanet-client.js`;

await build({
  absWorkingDir: root,
  entryPoints: ["dist/stdlib/client.js"],
  outfile,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  legalComments: "eof",
  logLevel: "warning",
});

const text = readFileSync(outfile, "utf8");
const leaks = [/\brequire\s*\(/, /["'`]node:/, /\bimport\s*\(\s*["'`]ws["'`]\s*\)/, /\bfrom\s*["'`]ws["'`]/].filter((re) => re.test(text));
if (leaks.length > 0) {
  console.error(`build-client: ${outfile} holds Node code (${leaks.map(String).join(", ")})`);
  process.exit(1);
}
console.log(`build-client: dist/client/luanet-client.js, ${statSync(outfile).size} bytes`);
