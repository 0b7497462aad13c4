/**
 * What a service name may be, everywhere a name is taken in: StartLocalService, a HELLO, the
 * name service's Register, an etcd key. At most 255 characters; none of them a control
 * character (C0, DEL, C1), a bidirectional-text control (which would make a name print as
 * another one), a line or paragraph separator; no white space at either end.
 * @internal
 */
import { hasUnsafe } from "./printable.js";

export const MAX_NAME_LENGTH = 255;

/** Why `name` is not a valid service name, or null if it is one. */
export function badName(name: unknown): string | null {
  if (typeof name !== "string") return "a name must be a string";
  if (name.length === 0) return "a name must not be empty";
  if (name.length > MAX_NAME_LENGTH) return `a name must be at most ${MAX_NAME_LENGTH} characters (this one has ${name.length})`;
  if (hasUnsafe(name)) return "a name must not contain control characters or bidirectional-text controls";
  if (name.trim() !== name) return "a name must not start or end with white space";
  return null;
}
