/**
 * The greeting cases of tests/transport-unit.test.ts with a cluster secret: on a stream link the
 * greeting follows the handshake; on UDP it rides in signed datagrams, and a listener that
 * restarted gets it first again after the dialer handshakes anew. The secret is set before
 * anything reads the security settings (they are read once, at the first connect or listen).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { security } from "../runtime/security/settings.ts";
import { greetingCases } from "./helpers/transports.ts";

process.env.LUANET_SECRET = "a test secret of 32 bytes, no more";
process.env.LUANET_SECRET_FILE = "";

test("the secret is in force", () => {
  assert.notEqual(security().secret, null);
});

greetingCases("with a cluster secret, ");
