import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

// cache-store-value, cache-lookup-value and cache-remove-value in a real gateway process: values
// stored by one request are read by another (passed to the backend through a variable), expire,
// and are removed.
describe("the value cache policies in a real gateway", () => {
  let backend: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    backend = await startUpstream();
    // The value read goes to the backend as ?got=..., where the test sees it.
    const read = (key: string, extra = "") =>
      `[ { policy: cache-lookup-value, with: { key: "${key}", variable-name: found${extra} } }, { policy: set-query-parameter, with: { name: got, value: "{context.variable.found}" } } ]`;
    gw = await startGatewayProcess({
      config: `
apis:
  - name: v
    path: /v
    backend: main
    operations:
      - name: store
        method: PUT
        url: /{name}
        policies:
          inbound: [ { policy: cache-store-value, with: { key: "greeting-{name}", value: "{request.header.x-value} from {request.ip}", duration: 60 } } ]
      - name: store-short
        method: POST
        url: /{name}
        policies:
          inbound: [ { policy: cache-store-value, with: { key: "greeting-{name}", value: "{request.header.x-value}", duration: 1, caching-type: internal } } ]
      - name: read
        method: GET
        url: /{name}
        policies:
          inbound: ${read("greeting-{name}", ', default-value: "nobody"')}
      - name: read-no-default
        method: GET
        url: /plain/{name}
        policies:
          inbound: ${read("greeting-{name}")}
      - name: remove
        method: DELETE
        url: /{name}
        policies:
          outbound: [ { policy: cache-remove-value, with: { key: "greeting-{name}" } } ]
backends:
  main: { urls: ["${backend.url}"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  /** What the backend got as ?got= for a read of `name`. */
  const read = async (path: string) => {
    const res = await fetch(`${gw.url}/v/${path}`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    return new URL(backend.seen.at(-1)!.url, "http://x").searchParams.get("got");
  };
  const send = async (method: string, name: string, value?: string) => {
    const res = await fetch(`${gw.url}/v/${name}`, { method, headers: value === undefined ? {} : { "x-value": value } });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  };

  it("reads the default value before anything is stored, and nothing without a default", async () => {
    assert.equal(await read("ann"), "nobody");
    assert.equal(await read("plain/ann"), "", "the variable is unset: the template renders it empty");
  });

  it("stores a rendered value under a rendered key, which later requests read", async () => {
    await send("PUT", "ann", "hello");
    await send("PUT", "bob", "hi");
    assert.equal(await read("ann"), "hello from 127.0.0.1");
    assert.equal(await read("bob"), "hi from 127.0.0.1");
    assert.equal(await read("plain/ann"), "hello from 127.0.0.1");
  });

  it("removes a value (here from the outbound section)", async () => {
    await send("PUT", "cid", "hey");
    assert.equal(await read("cid"), "hey from 127.0.0.1");
    await send("DELETE", "cid");
    assert.equal(await read("cid"), "nobody");
  });

  it("expires a value after its duration", async () => {
    await send("POST", "dan", "short");
    assert.equal(await read("dan"), "short");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(await read("dan"), "nobody");
  });
});
