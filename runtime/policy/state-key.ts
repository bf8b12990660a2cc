/**
 * How the policy state store holds its keys: a short key as it is, a long one as its SHA-256
 * digest, so that a client who chooses the value of a header used in `counter-key` cannot make one
 * entry cost more than any other (a 16 KiB key is held in 64 characters, like any long key).
 *
 * Short keys are kept as they are because hashing every key would cost more than the store itself
 * (sha256 through node:crypto, hex: about 0.7 µs a key on Node, 1 µs on Bun, 1.7 µs on Deno, whose
 * other encodings take 9-12 µs; a Map lookup: 10 ns). Two long keys share an entry only if they
 * collide in SHA-256, so no full key is kept to tell them apart. A digest is exactly
 * DIGEST_KEY_LENGTH characters long and a key of that length is always hashed, so a key kept as it
 * is can never be taken for a digest.
 */
import { Buffer } from "node:buffer";
import { hash } from "node:crypto";

/** Longest key (in UTF-16 code units) held as it is; longer ones are held as their digest. */
export const MAX_PLAIN_KEY_LENGTH = 96;

/** Length of a digest key: SHA-256 in hex (a flat one-byte string straight from node:crypto). */
export const DIGEST_KEY_LENGTH = 64;

/** Put before the UTF-16 bytes of an ill-formed key: a byte UTF-8 never has, so they cannot hash like any well-formed key. */
const ILL_FORMED = Buffer.from([0xff]);

type MaybeWellFormed = { isWellFormed?: () => boolean };

/**
 * The key the store holds for `key`: `key` itself when it is at most MAX_PLAIN_KEY_LENGTH code
 * units and not DIGEST_KEY_LENGTH long, else its SHA-256 digest in hex.
 */
export function storedKey(key: string): string {
  if (key.length <= MAX_PLAIN_KEY_LENGTH && key.length !== DIGEST_KEY_LENGTH) return key;
  // UTF-8 turns every lone surrogate into U+FFFD, so two different ill-formed keys would hash alike;
  // their UTF-16 bytes do not. (Keys from policies are decoded from UTF-8 and always well-formed.)
  if ((key as MaybeWellFormed).isWellFormed?.() === false) return hash("sha256", Buffer.concat([ILL_FORMED, Buffer.from(key, "utf16le")]), "hex");
  return hash("sha256", key, "hex");
}
