/**
 * The cluster handshake on stream links (TCP, TLS, UNIX). With a cluster secret set, both ends
 * send a CHALLENGE with a fresh random nonce as their first frame. Each answers the other's with
 * a PROOF, an HMAC of both nonces under the secret, and checks the PROOF it gets:
 *
 *     dialer                                          acceptor
 *       CHALLENGE [6, Nd]   ------------------------>
 *                           <------------------------   CHALLENGE [6, Na]
 *       PROOF [7, HMAC(secret, "luanet/1 dial" Na Nd)] ->
 *                           <------------------------   PROOF [7, HMAC(secret, "luanet/1 accept" Nd Na)]
 *
 * Only then does the link carry other frames (HELLO first). The secret never crosses the wire; a
 * recorded PROOF is useless on a new link because it covers the other side's fresh nonce; the
 * role in the HMAC keeps a PROOF from being reflected back at its sender. Authentication is of
 * the link, once: frames after it are not signed (TLS protects them on hostile networks).
 * @internal
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { LuanetError } from "../errors.js";
import { decode, encode, MAC_BYTES, NONCE_BYTES, Type } from "../wire/envelope.js";

export type Role = "dial" | "accept";

/** A link that did not authenticate: it is closed, and nothing it sent is processed. */
export class AuthError extends LuanetError {
  constructor(message: string) {
    super("unauthenticated", message);
  }
}

/** What a peer asking for the cluster handshake is told when this process has no secret. */
export const NO_SECRET = "it asks for the cluster handshake, and this process has no cluster secret (set LUANET_SECRET_FILE or --secret-file)";

/** How long a new link may take to authenticate (and, with no secret, to send HELLO). */
export const HANDSHAKE_TIMEOUT_MS = Number(process.env.LUANET_HELLO_TIMEOUT_MS ?? 10_000);

export const nonce = (): Buffer => randomBytes(NONCE_BYTES);

/** The HMAC that `role` sends to prove it knows `secret`: over the other side's nonce, then its own. */
export function proof(secret: Buffer, role: Role, theirs: Uint8Array, mine: Uint8Array): Buffer {
  return createHmac("sha256", secret).update(`luanet/1 ${role}`).update(theirs).update(mine).digest();
}

export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const other = (role: Role): Role => (role === "dial" ? "accept" : "dial");

/** One side of the handshake on one link. Feed it frames until `receive` returns true. */
export class Handshake {
  private readonly mine = nonce();
  private theirs: Uint8Array | null = null;

  constructor(private readonly secret: Buffer, private readonly role: Role, private readonly send: (body: Uint8Array) => void) {
    send(encode([Type.CHALLENGE, this.mine]));
  }

  /** One frame from the peer. True once the peer has proved itself; throws AuthError. */
  receive(body: Uint8Array): boolean {
    let envelope;
    try {
      envelope = decode(body);
    } catch (error) {
      throw new AuthError(`a malformed handshake frame: ${(error as Error).message}`);
    }
    if (this.theirs === null) {
      if (envelope[0] !== Type.CHALLENGE) throw new AuthError("it did not start the cluster handshake (does it have the cluster secret?)");
      this.theirs = envelope[1];
      this.send(encode([Type.PROOF, proof(this.secret, this.role, this.theirs, this.mine)]));
      return false;
    }
    if (envelope[0] !== Type.PROOF || envelope[1].length !== MAC_BYTES) throw new AuthError("it sent no proof of the cluster secret");
    if (!sameMac(envelope[1], proof(this.secret, other(this.role), this.mine, this.theirs))) {
      throw new AuthError("its proof of the cluster secret is wrong (a different secret, or a replayed handshake)");
    }
    return true;
  }
}
