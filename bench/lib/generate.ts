/** Generated gateway configurations for the in-process probes (many APIs). */

/** Three built-in policy uses for API `i`: two inbound, one outbound; 10 parameter sets in rotation. */
function policies(i: number): string {
  const use = (name: string, value: string) => `{ policy: set-header, with: { name: ${name}, value: "${value}" } }`;
  return `, policies: { inbound: [ ${use("x-tenant", `t${i % 10}`)}, ${use("x-gateway", "portico")} ], outbound: [ ${use("x-served-by", "portico")} ] }`;
}

/**
 * YAML with `apis` APIs (`api-N` on `/api-N`, spread over 10 backends on 127.0.0.1), no operations,
 * and, with `withPolicies`, the compile target's 3 policies per API (docs/design/performance.md) (`set-header` uses whose
 * parameters repeat every 10 APIs, as real configurations repeat theirs).
 */
export function generatedConfig(apis: number, firstPort = 9000, withPolicies = false): string {
  const lines = ["apis:"];
  for (let i = 0; i < apis; i++) lines.push(`  - { name: api-${i}, path: /api-${i}, backend: backend-${i % 10}${withPolicies ? policies(i) : ""} }`);
  lines.push("backends:");
  for (let i = 0; i < 10; i++) lines.push(`  backend-${i}: { urls: ["http://127.0.0.1:${firstPort + i}"], timeout: 30s }`);
  return `${lines.join("\n")}\n`;
}
