/**
 * Refused peers, logged with their address: the first refusal in a second at once, the rest as
 * one summary line a second later, so a flood of bad peers cannot flood the log.
 * @internal
 */
import { log } from "../log.js";

let lastLogged = -Infinity;
let suppressed = 0;
let lastSuppressed = "";

export function refused(remote: string, reason: string): void {
  const now = performance.now();
  if (now - lastLogged >= 1000) {
    lastLogged = now;
    log.warn(`refused ${remote}: ${reason}`);
    return;
  }
  lastSuppressed = `${remote}: ${reason}`;
  if (suppressed++ === 0) {
    setTimeout(() => {
      log.warn(`refused ${suppressed} more peer(s) in the last second; the last was ${lastSuppressed}`);
      suppressed = 0;
      lastLogged = performance.now();
    }, 1000).unref();
  }
}
