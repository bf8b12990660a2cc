/**
 * The files `portico policy new NAME` writes: an AssemblyScript policy using the SDK, its
 * fixtures (which it passes as written) and a README. NAME is kebab-case, so it is safe inside
 * the code and YAML below.
 */

/** `index.ts`: copies a templated value into a request header, refuses requests without it, tidies the response. */
function source(name: string): string {
  return `// ${name}: a Portico policy (AssemblyScript, policy ABI 1.4; docs/policy-authoring.md).
// Parameters (\`with:\`): \`header\`, the request header to set (default x-${name}), and \`value\`, a
// template such as "{request.header.x-tenant}". A request for which the value renders empty is
// answered 400; on the way back, the backend's \`server\` header is removed.
import { Config, Log, Reply, Request, Response, Template } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

// Parameters are fixed for the life of an instance: read them once, on the first call.
let loaded = false;
let header = "x-${name}";
let value = new Template("");

function load(): void {
  const name = Config.get("header");
  if (name !== null) header = name!;
  const text = Config.get("value");
  if (text !== null) value = new Template(text!);
  loaded = true;
}

export function on_request(): i32 {
  if (!loaded) load();
  const rendered = value.render();
  if (rendered.length == 0) {
    Log.warn("refused a request: no value for " + header);
    Reply.header("content-type", "text/plain; charset=utf-8");
    Reply.send(400, "missing " + header + "\\n");
    return 0;
  }
  Request.setHeader(header, rendered);
  return 0;
}

export function on_response(): i32 {
  Response.removeHeader("server");
  return 0;
}
`;
}

/** `fixtures.yaml`: the cases `portico policy test` runs. */
function fixtures(name: string): string {
  return `# Test cases for the ${name} policy: \`portico policy test\` runs each one against build/${name}.wasm
# (format: docs/policy-authoring.md). Parameters every case starts from:
with:
  header: x-tenant-id
  value: "{request.header.x-tenant}"
cases:
  - name: copies the tenant into x-tenant-id
    request:
      method: GET
      path: /orders/42
      headers: { x-tenant: acme }
    expect:
      continue: true
      request:
        headers: { x-tenant-id: acme }

  - name: answers 400 when there is no tenant
    request: { path: /orders/42 }
    expect:
      reply: { status: 400, body: "missing x-tenant-id\\n" }
      logs: [ { level: warn, message: "refused a request: no value for x-tenant-id" } ]

  - name: takes the value from another template
    with: { value: "{request.ip}" }
    request: { client-ip: 203.0.113.7 }
    expect:
      request:
        headers: { x-tenant-id: 203.0.113.7 }

  - name: removes the backend's server header
    hook: on_response
    response: { status: 200, headers: { server: nginx/1.25, content-type: application/json } }
    expect:
      response:
        removed: [server]
        headers: { content-type: application/json }
`;
}

/** `README.md` of the new project. */
function readme(name: string): string {
  return `# ${name}

A Portico policy written in AssemblyScript with the Portico SDK
(\`@portico/sdk\`). The guide is docs/policy-authoring.md in Portico's repository.

| file | |
|---|---|
| \`index.ts\` | the policy: exports \`portico_abi_version\` (from the SDK) and the hooks it implements |
| \`fixtures.yaml\` | test cases: a request, the parameters, the hook, and what the policy must do |
| \`build/${name}.wasm\` | the module, made by \`portico policy build\` (not committed) |

\`\`\`sh
portico policy build    # compiles index.ts to build/${name}.wasm; prints its sha256
portico policy test     # runs fixtures.yaml against build/${name}.wasm; exit 1 if a case fails
\`\`\`

Use it in a gateway configuration:

\`\`\`yaml
policies:
  ${name}: { module: ./${name}/build/${name}.wasm, sha256: "<printed by portico policy build>" }
apis:
  - name: orders
    path: /orders
    backend: orders
    policies:
      inbound: [ { policy: ${name}, with: { header: x-tenant-id, value: "{request.header.x-tenant}" } } ]
      outbound: [ { policy: ${name} } ]
\`\`\`
`;
}

/** The files of a new policy project, by path relative to its folder. */
export function policyProjectFiles(name: string): Record<string, string> {
  return { "index.ts": source(name), "fixtures.yaml": fixtures(name), "README.md": readme(name), ".gitignore": "build/\n" };
}
