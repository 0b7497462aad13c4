/**
 * Signed datagrams (runtime/security/datagram.ts), property-based: whatever order, loss and
 * repetition the network adds, a receiver accepts each datagram at most once, accepts every
 * datagram that arrives new within the 64-number window, and accepts nothing tampered with,
 * signed with another key, or sent in its own direction (a reflection).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { acceptAnswer, answer, challenge, challengeNonce, type DatagramSession } from "../runtime/security/datagram.ts";
import { nonce } from "../runtime/security/handshake.ts";

/** A dialer's and a listener's sessions from one real handshake under `secret`. */
function pair(secret: Buffer): { dialer: DatagramSession; listener: DatagramSession } {
  const mine = nonce();
  const { datagram, session: listener } = answer(secret, challengeNonce(challenge(mine))!);
  const dialer = acceptAnswer(secret, mine, datagram);
  assert.ok(dialer !== null);
  return { dialer, listener };
}

test("each datagram is accepted at most once, and every one that arrives new within the window is accepted", () => {
  fc.assert(fc.property(fc.array(fc.nat(199), { maxLength: 400 }), (arrivals) => {
    const { dialer, listener } = pair(randomBytes(32));
    const sent = Array.from({ length: 200 }, (_, i) => dialer.seal(Buffer.from(`frame ${i}`)));
    const accepted = new Set<number>();
    let highest = -1;
    for (const i of arrivals) {
      const out = listener.open(sent[i]!);
      const fresh = !accepted.has(i) && i > highest - 64;
      if (out !== null) {
        assert.ok(!accepted.has(i), `frame ${i} accepted twice`);
        assert.equal(out.toString(), `frame ${i}`);
        accepted.add(i);
        highest = Math.max(highest, i);
      } else {
        assert.ok(!fresh, `frame ${i} refused although new and within the window (highest ${highest})`);
      }
    }
  }));
});

test("a tampered datagram, one under another key, and a reflected one are refused", () => {
  const secret = randomBytes(32);
  const { dialer, listener } = pair(secret);
  const other = pair(randomBytes(32));
  const good = dialer.seal(Buffer.from("hello"));
  for (let i = 0; i < good.length; i++) {
    const bad = Buffer.from(good);
    bad[i]! ^= 1;
    assert.equal(listener.open(bad), null, `a flipped bit at ${i} is refused`);
  }
  assert.equal(listener.open(other.dialer.seal(Buffer.from("hello"))), null, "another session's key");
  assert.equal(dialer.open(dialer.seal(Buffer.from("hello"))), null, "a reflection of the dialer's own datagram");
  assert.equal(listener.open(good)?.toString(), "hello");
});

test("an answer under another secret, or to another challenge, opens no session", () => {
  const mine = nonce();
  const { datagram } = answer(randomBytes(32), mine);
  assert.equal(acceptAnswer(randomBytes(32), mine, datagram), null);
  const right = randomBytes(32);
  assert.equal(acceptAnswer(right, nonce(), answer(right, mine).datagram), null);
});
