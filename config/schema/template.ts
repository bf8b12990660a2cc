/**
 * The template syntax of built-in policy parameters (`{request.ip}`, `{request.header.x-api-key}`,
 * ...), checked when the configuration is validated; the policies render templates themselves
 * (policies-wasm/sdk/index.ts `Template`). `{{name}}` (a named value name between double braces) is
 * not a pair of literal braces: it is a named value, replaced before templates are checked
 * (named-values.ts); other `{{` and `}}` reach the template as literal braces.
 */

/** Placeholders without an argument. */
const FIXED = new Set(["request.ip", "request.method", "request.path", "request.query", "api.name", "operation.name"]);
/** Placeholders that take a name after the prefix. */
const PREFIXES = ["request.header.", "request.query.", "request.route.", "context.variable."];

/** What is wrong with a template, or undefined when every placeholder is known and every brace closed. */
export function templateProblem(source: string): string | undefined {
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if ((c === "{" || c === "}") && source[i + 1] === c) {
      i += 2;
      continue;
    }
    if (c === "}") return "has a } without a matching { (write }} for a literal brace)";
    if (c !== "{") {
      i++;
      continue;
    }
    const end = source.indexOf("}", i + 1);
    if (end < 0) return "has a { without a closing } (write {{ for a literal brace)";
    const name = source.slice(i + 1, end).trim();
    const known = FIXED.has(name) ||
      PREFIXES.some((p) => name.startsWith(p) && name.length > p.length) ||
      /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name);
    if (!known) {
      return `has an unknown placeholder {${name}}; known: {request.ip}, {request.method}, {request.path}, {request.query}, {request.header.NAME}, {request.query.NAME}, {request.route.NAME} or {NAME}, {context.variable.NAME}, {api.name}, {operation.name}`;
    }
    i = end + 1;
  }
  return undefined;
}
