/**
 * An HTTP token (RFC 9110 §5.6.2): what a field name, a Forwarded parameter name or a value that
 * needs no quoting is made of. One definition for the request path's checks.
 */
export const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
