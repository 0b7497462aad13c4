/**
 * This process's security settings, read once from the environment (the CLI's `--secret-file`
 * and `--tls-*` options set the same variables, so child processes inherit them):
 *
 *   LUANET_SECRET_FILE   a file holding the cluster secret (at least 16 bytes; one trailing
 *                        newline is ignored). Every link must prove it knows the secret.
 *   LUANET_SECRET        the secret itself, for places where a file is awkward. Never pass it
 *                        as a command-line argument: other users can read those.
 *   LUANET_TLS_CERT, LUANET_TLS_KEY, LUANET_TLS_CA
 *                        PEM files: this process's certificate and key, and the CA that signs
 *                        every member's certificate. All three or none. TCP links then run over
 *                        TLS, and both ends must present a certificate the CA signed.
 * @internal
 */
import { readFileSync, statSync } from "node:fs";
import { LuanetError } from "../errors.js";

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface Security {
  /** The cluster secret, or null: links are not authenticated. */
  secret: Buffer | null;
  tls: TlsFiles | null;
  /** Warnings about the settings (a secret file others can read), for the log. */
  warnings: string[];
}

const MIN_SECRET_BYTES = 16;

/** A bad setting: the process cannot start with it. */
export class SecurityConfigError extends LuanetError {
  constructor(message: string) {
    super("bad_config", message);
  }
}

function readSecret(env: NodeJS.ProcessEnv, warnings: string[]): Buffer | null {
  const file = env.LUANET_SECRET_FILE;
  let secret: Buffer;
  if (file !== undefined && file !== "") {
    try {
      secret = readFileSync(file);
      if ((statSync(file).mode & 0o077) !== 0) warnings.push(`the secret file ${file} can be read by other users; chmod 600 it`);
    } catch (error) {
      throw new SecurityConfigError(`cannot read the cluster secret file ${file}: ${(error as Error).message}`);
    }
    if (secret.at(-1) === 0x0a) secret = secret.subarray(0, secret.at(-2) === 0x0d ? -2 : -1);
  } else if (env.LUANET_SECRET !== undefined && env.LUANET_SECRET !== "") {
    secret = Buffer.from(env.LUANET_SECRET);
  } else {
    return null;
  }
  if (secret.length < MIN_SECRET_BYTES) {
    throw new SecurityConfigError(`the cluster secret is ${secret.length} bytes; it must be at least ${MIN_SECRET_BYTES} (try: openssl rand -hex 32 > secret)`);
  }
  return secret;
}

function readTls(env: NodeJS.ProcessEnv): TlsFiles | null {
  const paths = { cert: env.LUANET_TLS_CERT, key: env.LUANET_TLS_KEY, ca: env.LUANET_TLS_CA };
  const given = Object.entries(paths).filter(([, path]) => path !== undefined && path !== "");
  if (given.length === 0) return null;
  if (given.length < 3) {
    throw new SecurityConfigError(`TLS needs a certificate, a key and a CA; only ${given.map(([k]) => k).join(", ")} given (--tls-cert, --tls-key, --tls-ca)`);
  }
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new SecurityConfigError(`cannot read the TLS ${what} ${path}: ${(error as Error).message}`);
    }
  };
  return { cert: read("certificate", paths.cert!), key: read("key", paths.key!), ca: read("CA", paths.ca!) };
}

let current: Security | null = null;

/** The settings, read from the environment on first use. Throws SecurityConfigError. */
export function security(): Security {
  if (current === null) {
    const warnings: string[] = [];
    current = { secret: readSecret(process.env, warnings), tls: readTls(process.env), warnings };
  }
  return current;
}
