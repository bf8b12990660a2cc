/** Generated gateway configurations for the in-process probes (many APIs, no policies). */

/**
 * YAML with `apis` APIs (`api-N` on `/api-N`, spread over 10 backends on 127.0.0.1) and no
 * policies or operations: what "N APIs" means in the compile and memory probes until the policy
 * engine exists (the DESIGN target counts 3 policies per API).
 */
export function generatedConfig(apis: number, firstPort = 9000): string {
  const lines = ["apis:"];
  for (let i = 0; i < apis; i++) lines.push(`  - { name: api-${i}, path: /api-${i}, backend: backend-${i % 10} }`);
  lines.push("backends:");
  for (let i = 0; i < 10; i++) lines.push(`  backend-${i}: { urls: ["http://127.0.0.1:${firstPort + i}"], timeout: 30s }`);
  return `${lines.join("\n")}\n`;
}
