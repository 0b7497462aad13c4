/**
 * Return routability on UDP (as QUIC's Retry and DTLS's HelloVerifyRequest do it). A datagram's
 * source address may be forged, so a listener sends an address that has not shown it receives
 * nothing but one COOKIE, never larger than the datagram it answers, and keeps no state for it.
 * Every datagram a dialer sends starts with a route header:
 *
 *     FRAME        [cid: u32 BE][0][payload]
 *     ECHO         [cid: u32 BE][1][cookie: 16][payload]   until the listener has answered anything else
 *     PROBE        [cid: u32 BE][2][b][11 zero bytes]      a dialer's first datagram, resent until a COOKIE;
 *                                                          b = 1: the dialer takes batches, else 0
 *     BATCH_FRAME  [cid: u32 BE][3][payload]               FRAME and ECHO from a dialer that takes
 *     BATCH_ECHO   [cid: u32 BE][4][cookie: 16][payload]   batches and was told the listener does
 *
 * and the listener answers a datagram from an unknown link with
 *
 *     COOKIE       [5][cookie: 16]    cookie = first 16 bytes of HMAC(K, bucket: u32, port: u16, cid: u32, ip)
 *     BATCH_COOKIE [6][cookie: 16]    the same, to a dialer that said it takes batches: so do I
 *
 * `cid` is the dialer's random connection id; the listener keys its links by (ip, port, cid), so
 * a new dialer that reuses a port is a new link. K is random per process; bucket counts
 * BUCKET_MS periods, and a cookie checks in its own period and the next. Only a datagram that
 * echoes a cookie that checks opens a link, so forged sources open none.
 *
 * Batches (udp-batch.ts) are negotiated here, on every datagram, so that each side knows before
 * the link carries a frame, and learns again when the other restarts: a dialer says it takes
 * them in its PROBE, and once a BATCH_COOKIE has told it the listener does too, in the route
 * kind of everything it sends (3, 4); a listener sends a BATCH_COOKIE only to a dialer that said
 * so (a PROBE with b = 1, or a datagram of kind 3 or 4), and batches to a link whose latest
 * datagram had kind 3 or 4. A luanet without batches ignores b and answers COOKIE, so a dialer
 * never batches to it and never sends it kinds 3 or 4; it never gets a BATCH_COOKIE, whose first
 * byte it would not take for a cookie.
 * @internal
 */
import { createHmac, randomBytes } from "node:crypto";
import { sameMac } from "../security/handshake.js";

export const Route = { FRAME: 0, ECHO: 1, PROBE: 2, BATCH_FRAME: 3, BATCH_ECHO: 4 } as const;
/** A COOKIE datagram's first byte (listener -> dialer): no other datagram there starts with it. */
export const COOKIE = 5;
export const BATCH_COOKIE = 6;
const COOKIE_BYTES = 16;
/** A COOKIE's size; the listener sends one only in answer to a datagram at least this large. */
export const COOKIE_DATAGRAM = 1 + COOKIE_BYTES;
/** Bytes of the route header of a FRAME; an ECHO adds the cookie. */
export const ROUTE_BYTES = 5;
export const ECHO_BYTES = ROUTE_BYTES + COOKIE_BYTES;
/** How long one cookie period lasts: a cookie checks for 30 to 60 s. */
const BUCKET_MS = 30_000;
const key = randomBytes(32);
const fields = Buffer.alloc(10);

function mac(ip: string, port: number, cid: number, bucket: number): Buffer {
  fields.writeUInt32BE(bucket >>> 0, 0);
  fields.writeUInt16BE(port, 4);
  fields.writeUInt32BE(cid, 6);
  return createHmac("sha256", key).update(fields).update(ip).digest().subarray(0, COOKIE_BYTES);
}

const bucket = () => Math.floor(performance.now() / BUCKET_MS);

/** Where a dialer's payload starts behind a route header of kind `kind`; 0 for a PROBE or an unknown kind. */
export function routeBytes(kind: number | undefined): number {
  return kind === Route.FRAME || kind === Route.BATCH_FRAME ? ROUTE_BYTES : kind === Route.ECHO || kind === Route.BATCH_ECHO ? ECHO_BYTES : 0;
}

/** Whether a dialer's datagram says that it takes batches. */
export function saysBatches(datagram: Buffer): boolean {
  const kind = datagram[4];
  return kind === Route.BATCH_FRAME || kind === Route.BATCH_ECHO || (kind === Route.PROBE && datagram[ROUTE_BYTES] === 1);
}

/** The COOKIE for a datagram from ip:port on link `cid`; a BATCH_COOKIE if `batches`. */
export function cookie(ip: string, port: number, cid: number, batches: boolean): Buffer {
  return Buffer.concat([Buffer.of(batches ? BATCH_COOKIE : COOKIE), mac(ip, port, cid, bucket())]);
}

/** Whether `datagram` is an ECHO of a cookie this process gave ip:port for its link id. */
export function echoChecks(datagram: Buffer, ip: string, port: number, cid: number): boolean {
  if (routeBytes(datagram[4]) !== ECHO_BYTES || datagram.length < ECHO_BYTES) return false;
  const echoed = datagram.subarray(ROUTE_BYTES, ECHO_BYTES);
  const now = bucket();
  return sameMac(echoed, mac(ip, port, cid, now)) || sameMac(echoed, mac(ip, port, cid, now - 1));
}

/** Dialer: a FRAME route header for a fresh random connection id, and the PROBE that opens it
 * (saying that this dialer takes batches). */
export function newRoute(): { frame: Buffer; probe: Buffer } {
  const cid = randomBytes(4);
  const probe = Buffer.concat([cid, Buffer.of(Route.PROBE), Buffer.alloc(COOKIE_DATAGRAM - ROUTE_BYTES)]);
  probe[ROUTE_BYTES] = 1;
  return { frame: Buffer.concat([cid, Buffer.of(Route.FRAME)]), probe };
}

/** Dialer: a COOKIE just received says whether the listener takes batches; the FRAME route
 * header `frame` is set to say so back, and the ECHO route header that carries it is returned. */
export function echoRoute(frame: Buffer, cookieDatagram: Buffer): Buffer {
  const batches = cookieDatagram[0] === BATCH_COOKIE;
  frame[4] = batches ? Route.BATCH_FRAME : Route.FRAME;
  return Buffer.concat([frame.subarray(0, 4), Buffer.of(batches ? Route.BATCH_ECHO : Route.ECHO), cookieDatagram.subarray(1)]);
}

export const isCookie = (datagram: Buffer): boolean =>
  datagram.length === COOKIE_DATAGRAM && (datagram[0] === COOKIE || datagram[0] === BATCH_COOKIE);
