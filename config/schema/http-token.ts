/**
 * HTTP tokens (RFC 9110 §5.6.2): what a field name, a method, a Forwarded parameter name or a value
 * that needs no quoting is made of. One definition for the configuration's checks and the request
 * path's: a leaf that imports nothing, which runtime code may import (config/boundary_test.ts).
 */

/** A token's characters (`tchar`), as a character class. */
const TCHAR = "[!#$%&'*+.^_`|~0-9A-Za-z-]";

/** A whole string that is one token. */
export const HTTP_TOKEN: RegExp = new RegExp(`^${TCHAR}+$`);

/** A token, or `*` (a method, or any method). */
export const HTTP_TOKEN_OR_ANY: RegExp = new RegExp(`^(\\*|${TCHAR}+)$`);
