/**
 * node.ts for browsers (package.json "browser" maps one to the other; tools/build-client.mjs
 * bundles this one): a browser has its own WebSocket, and no TCP.
 */
import type * as node from "./node.js";

export const loadNodeWebSocket: typeof node.loadNodeWebSocket = () => Promise.reject(new Error("this environment has no WebSocket"));

export const openTcp: typeof node.openTcp = (_host, _port, events) => {
  let closed = false;
  queueMicrotask(() => {
    if (!closed) events.end("unavailable", "tcp:// gates need Node.js; a browser connects with ws:// or wss://");
  });
  return {
    send() {},
    buffered: () => 0,
    close() {
      closed = true;
    },
  };
};
