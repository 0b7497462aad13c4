import type {} from "luanet/globals";
// The smallest luanet script: prints one line and exits when no task is left.
console.log(`hello from luanet ${luanet.version}`);
