/**
 * Where validate-jwt finds the token: a header (default `Authorization`, with its scheme, default
 * `Bearer` there), a query parameter, or a `token-value` template. The template is rendered on the
 * host with every placeholder the configuration accepts (config/schema/template.ts: the request's
 * parts, route parameters, variables, the API and operation, the caller's subscription and product,
 * and the claims of a token an earlier validate-jwt accepted), the same values the WebAssembly
 * SDK's `Template` reads.
 */
import { contextValue, type PolicyExchange } from "../abi.ts";

/** Reads the token of one request: the token text, or undefined when the request carries none (or not under the required scheme). */
export type TokenReader = (exchange: PolicyExchange) => string | undefined;

/** How the parameters say the token arrives. */
export interface TokenSource {
  readonly header?: string;
  /** Required scheme on the header, compared without regard to case; "" for a bare token. */
  readonly scheme?: string;
  readonly query?: string;
  readonly template?: string;
}

/** The reader for a token source, compiled once. */
export function tokenReader(source: TokenSource): TokenReader {
  if (source.template !== undefined) {
    const render = compileTemplate(source.template);
    return (ex) => render(ex).trim() || undefined;
  }
  if (source.query !== undefined) {
    const name = source.query;
    return (ex) => (ex.search ? new URLSearchParams(ex.search).get(name) || undefined : undefined);
  }
  const header = source.header ?? "authorization";
  const scheme = source.scheme ?? "";
  if (!scheme) return (ex) => ex.requestHeaders.get(header)?.trim() || undefined;
  const prefix = scheme.toLowerCase();
  return (ex) => {
    const value = ex.requestHeaders.get(header);
    if (!value) return undefined;
    // `Bearer <token>`: the scheme, one or more spaces, the token (RFC 9110 §11.4, RFC 6750 §2.1).
    if (value.length <= prefix.length + 1 || value.slice(0, prefix.length).toLowerCase() !== prefix || value[prefix.length] !== " ") return undefined;
    return value.slice(prefix.length + 1).trim() || undefined;
  };
}

type Part = string | ((ex: PolicyExchange) => string);

/** A bare `{NAME}`: a route parameter (config/schema/template.ts accepts the same names). */
const ROUTE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * One placeholder's value on an exchange (absent values render as ""). Every placeholder the
 * configuration accepts is rendered; any other name throws, so a template the validation let
 * through by mistake fails when the policy is compiled instead of rendering some other value.
 */
function placeholder(name: string): (ex: PolicyExchange) => string {
  switch (name) {
    case "request.ip":
      return (ex) => ex.clientIp ?? "";
    case "request.method":
      return (ex) => ex.method;
    case "request.path":
      return (ex) => ex.path;
    case "request.query":
      return (ex) => (ex.search ?? "").replace(/^\?/, "");
    case "api.name":
      return (ex) => ex.api ?? "";
    case "operation.name":
      return (ex) => ex.operation ?? "";
    case "subscription.id":
    case "subscription.name":
    case "product.name":
      return (ex) => contextValue(ex, name) ?? "";
  }
  const after = (prefix: string) => (name.startsWith(prefix) && name.length > prefix.length ? name.slice(prefix.length) : undefined);
  const header = after("request.header.");
  if (header !== undefined) return (ex) => ex.requestHeaders.get(header) ?? "";
  const query = after("request.query.");
  if (query !== undefined) return (ex) => (ex.search ? new URLSearchParams(ex.search).get(query) ?? "" : "");
  const variable = after("context.variable.");
  if (variable !== undefined) return (ex) => ex.variables?.get(variable) ?? "";
  const claim = after("jwt.claim.");
  if (claim !== undefined) return (ex) => ex.claims?.get(claim) ?? "";
  const route = after("request.route.") ?? (ROUTE_NAME.test(name) ? name : undefined);
  if (route !== undefined) return (ex) => (ex.params && Object.hasOwn(ex.params, route) ? ex.params[route]! : "");
  throw new Error(`unknown template placeholder {${name}}`);
}

/**
 * Compiles a template (`{{` and `}}` are literal braces; placeholders as validated by the
 * configuration). Throws on a placeholder the configuration does not accept.
 */
export function compileTemplate(source: string): (ex: PolicyExchange) => string {
  const parts: Part[] = [];
  let text = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if ((c === "{" || c === "}") && source[i + 1] === c) {
      text += c;
      i += 2;
    } else if (c === "{" && source.indexOf("}", i + 1) > 0) {
      const end = source.indexOf("}", i + 1);
      if (text) parts.push(text);
      text = "";
      parts.push(placeholder(source.slice(i + 1, end).trim()));
      i = end + 1;
    } else {
      text += c;
      i += 1;
    }
  }
  if (text) parts.push(text);
  return (ex) => {
    let out = "";
    for (const part of parts) out += typeof part === "string" ? part : part(ex);
    return out;
  };
}
