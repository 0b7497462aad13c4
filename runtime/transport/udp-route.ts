/**
 * Return routability on UDP (as QUIC's Retry and DTLS's HelloVerifyRequest do it). A datagram's
 * source address may be forged, so a listener sends an address that has not shown it receives
 * nothing but one COOKIE, never larger than the datagram it answers, and keeps no state for it.
 * Every datagram a dialer sends starts with a route header:
 *
 *     FRAME  [cid: u32 BE][0][payload]
 *     ECHO   [cid: u32 BE][1][cookie: 16][payload]     until the listener has answered anything else
 *     PROBE  [cid: u32 BE][2][12 zero bytes]           a dialer's first datagram, resent until a COOKIE
 *
 * and the listener answers a datagram from an unknown link with
 *
 *     COOKIE [5][cookie: 16]    cookie = first 16 bytes of HMAC(K, bucket: u32, port: u16, cid: u32, ip)
 *
 * `cid` is the dialer's random connection id; the listener keys its links by (ip, port, cid), so
 * a new dialer that reuses a port is a new link. K is random per process; bucket counts
 * BUCKET_MS periods, and a cookie checks in its own period and the next. Only a datagram that
 * echoes a cookie that checks opens a link, so forged sources open none.
 * @internal
 */
import { createHmac, randomBytes } from "node:crypto";
import { sameMac } from "../security/handshake.js";

export const Route = { FRAME: 0, ECHO: 1, PROBE: 2 } as const;
/** A COOKIE datagram's first byte (listener -> dialer): no other datagram there starts with it. */
export const COOKIE = 5;
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

/** The COOKIE for a datagram from ip:port on link `cid`. */
export function cookie(ip: string, port: number, cid: number): Buffer {
  return Buffer.concat([Buffer.of(COOKIE), mac(ip, port, cid, bucket())]);
}

/** Whether `datagram` is an ECHO of a cookie this process gave ip:port for its link id. */
export function echoChecks(datagram: Buffer, ip: string, port: number, cid: number): boolean {
  if (datagram[4] !== Route.ECHO || datagram.length < ECHO_BYTES) return false;
  const echoed = datagram.subarray(ROUTE_BYTES, ECHO_BYTES);
  const now = bucket();
  return sameMac(echoed, mac(ip, port, cid, now)) || sameMac(echoed, mac(ip, port, cid, now - 1));
}

/** Dialer: a FRAME route header for a fresh random connection id, and the PROBE that opens it. */
export function newRoute(): { frame: Buffer; probe: Buffer } {
  const cid = randomBytes(4);
  return {
    frame: Buffer.concat([cid, Buffer.of(Route.FRAME)]),
    probe: Buffer.concat([cid, Buffer.of(Route.PROBE), Buffer.alloc(COOKIE_DATAGRAM - ROUTE_BYTES)]),
  };
}

/** Dialer: the ECHO route header that carries a COOKIE just received. */
export function echoRoute(frame: Buffer, cookieDatagram: Buffer): Buffer {
  return Buffer.concat([frame.subarray(0, 4), Buffer.of(Route.ECHO), cookieDatagram.subarray(1)]);
}

export const isCookie = (datagram: Buffer): boolean => datagram.length === COOKIE_DATAGRAM && datagram[0] === COOKIE;
