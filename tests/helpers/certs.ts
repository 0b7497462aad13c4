/**
 * Test certificates made with the `openssl` command: a cluster CA, member certificates it signs,
 * and a rogue CA with a member of its own, all in a fresh temp folder (removed when the test file
 * ends). EC P-256 keys, so making them takes milliseconds. The same commands make certificates
 * for a real cluster.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./proc.ts";

/** Whether the `openssl` command is installed (.ci/run installs it). */
export const haveOpenssl = spawnSync("openssl", ["version"], { stdio: "ignore", timeout: 10_000 }).status === 0;

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
}

const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A member's files, as the environment variables luanet reads them from. */
export type TlsEnv = { LUANET_TLS_CERT: string; LUANET_TLS_KEY: string; LUANET_TLS_CA: string };

export interface CertificateAuthority {
  /** The CA certificate (PEM path): what every member verifies its peers with. */
  ca: string;
  /** Make a certificate and key for member `name`, signed by this CA: its TLS environment. */
  member(name: string): TlsEnv;
}

/** A new CA named `name` in a fresh temp folder. */
export function makeCA(name: string): CertificateAuthority {
  const dir = tempDir();
  openssl(dir, ["req", "-x509", ...newKey, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", `/CN=${name}`]);
  // Members are both servers and clients; they are identified by the CA, not by host name.
  writeFileSync(join(dir, "member.ext"), [
    "basicConstraints = CA:FALSE",
    "keyUsage = digitalSignature",
    "extendedKeyUsage = serverAuth, clientAuth",
    "subjectAltName = IP:127.0.0.1",
  ].join("\n") + "\n");
  const ca = join(dir, "ca.pem");
  return {
    ca,
    member(member) {
      openssl(dir, ["req", ...newKey, "-keyout", `${member}.key`, "-out", `${member}.csr`, "-subj", `/CN=${member}`]);
      openssl(dir, ["x509", "-req", "-in", `${member}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "member.ext", "-out", `${member}.pem`]);
      return { LUANET_TLS_CERT: join(dir, `${member}.pem`), LUANET_TLS_KEY: join(dir, `${member}.key`), LUANET_TLS_CA: ca };
    },
  };
}
