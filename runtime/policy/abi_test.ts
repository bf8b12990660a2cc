import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { problemBody, problemHeaders } from "../http/problem.ts";
import type { Logger } from "../observability/log.ts";
import { applyDeferred, type PolicyExchange, type PolicyReply } from "./abi.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";
import { MemoryStateStore } from "./state.ts";

const lines: string[] = [];
const logger = {
  format: "json",
  info: (message: string, fields?: Record<string, unknown>) => lines.push(`info ${message} ${JSON.stringify(fields)}`),
  warn: (message: string) => lines.push(`warn ${message}`),
  error: (message: string) => lines.push(`error ${message}`),
  access: () => {},
} as unknown as Logger;

function exchange(extra: Partial<PolicyExchange> = {}): PolicyExchange {
  return {
    method: "GET",
    path: "/probe",
    requestHeaders: new Headers(),
    responseHeaders: undefined,
    logger,
    policy: "probe",
    state: new MemoryStateStore(),
    ...extra,
  };
}

async function probe(): Promise<PolicyPlugin> {
  const module = await new PolicyModuleCache().compile(readFileSync(`${ROOT}policies-wasm/dist/fixtures/state-probe.wasm`));
  return PolicyPlugin.create(module);
}

describe("ABI 1.1 host functions (state-probe fixture, in process)", () => {
  it("keeps cache entries across requests and shares variables along one request only", async () => {
    const state = new MemoryStateStore();
    {
      const plugin = await probe();
      const first = exchange({ variables: new Map([["from-earlier", "tenant-7"]]), state });
      await plugin.call("on_request", first);
      assert.equal(first.requestHeaders.get("x-earlier"), "tenant-7", "a variable set earlier in the chain is visible");
      assert.equal(first.variables!.get("hits"), "1");
      const second = exchange({ state });
      await plugin.call("on_request", second);
      assert.equal(second.variables!.get("hits"), "2", "the cache outlived the first request");
      assert.equal(second.requestHeaders.get("x-earlier"), "none", "variables do not leak between requests");
      // Another policy name is another cache namespace.
      const other = exchange({ policy: "another", state });
      await plugin.call("on_request", other);
      assert.equal(other.variables!.get("hits"), "1");
    }
  });

  it("refuses a reference into the module's memory that reaches past its end or past the string limit", async () => {
    const plugin = await probe();
    await assert.rejects(plugin.call("reference_past_memory", exchange()), /policy passed a header name outside its memory/);
    const fresh = await probe();
    await assert.rejects(fresh.call("reference_over_limit", exchange()), /policy passed a header name of 65536 bytes; the limit is 16384/);
  });

  it("records response headers set in on_request and lets on_response see the status and the variables", async () => {
    const plugin = await probe();
    const ex = exchange();
    await plugin.call("on_request", ex);
    assert.equal(ex.deferred?.length, 1);
    const headers = new Headers({ "x-hits": "stale" });
    applyDeferred(headers, ex.deferred!);
    assert.equal(headers.get("x-hits"), ex.variables!.get("hits"));
    ex.responseHeaders = headers;
    ex.status = 404;
    await plugin.call("on_response", ex);
    assert.equal(headers.get("x-status"), "404");
    assert.equal(headers.get("x-var"), ex.variables!.get("hits"));
  });

  it("writes policy log lines to the gateway's log with the policy's name, dropping debug", async () => {
    lines.length = 0;
    const plugin = await probe();
    await plugin.call("on_request", exchange());
    assert.deepEqual(lines, ['info probe saw GET /probe {"policy":"probe"}']);
  });
});

describe("ABI 1.3 portico_reply_problem (problem-probe fixture, through the SDK's problem())", () => {
  const problemProbe = new PolicyModuleCache().compile(readFileSync(`${ROOT}policies-wasm/dist/fixtures/problem-probe.wasm`));

  /** The reply the probe gives with these parameters. */
  async function answer(config: Record<string, string>): Promise<PolicyReply> {
    const plugin = await PolicyPlugin.create(await problemProbe, { config });
    try {
      const ex = exchange();
      await plugin.call("on_request", ex);
      assert.ok(ex.reply, "the probe replied");
      return ex.reply;
    } finally {
      await plugin.close();
    }
  }

  it("answers with the host's problem module: the same body and headers the gateway's own problems get, and the policy's earlier reply headers kept", async () => {
    const config = { status: "429", kind: "rate-limited", title: "Rate limit exceeded", detail: 'Try again in "7" seconds.\u0001', "retry-after": "7" };
    const reply = await answer(config);
    assert.equal(reply.status, 429);
    assert.equal(reply.body, problemBody({ kind: "rate-limited", title: "Rate limit exceeded", status: 429, detail: config.detail }));
    assert.equal(
      reply.body,
      '{"type":"urn:portico:problem:rate-limited","title":"Rate limit exceeded","status":429,"detail":"Try again in \\"7\\" seconds.\\u0001"}',
    );
    assert.deepEqual([...reply.headers], [...problemHeaders({ kind: "rate-limited", title: "", status: 429, headers: { "retry-after": "7" } })]);
  });

  it("leaves detail out when the policy gives none, and sends an empty one empty", async () => {
    const base = { status: "403", kind: "forbidden", title: "Forbidden" };
    assert.equal((await answer(base)).body, '{"type":"urn:portico:problem:forbidden","title":"Forbidden","status":403}');
    assert.equal((await answer({ ...base, detail: "" })).body, '{"type":"urn:portico:problem:forbidden","title":"Forbidden","status":403,"detail":""}');
  });

  it("fails the call for a kind that would not make a clean type URI, and for a status outside 200-599", async () => {
    const base = { status: "400", kind: "bad-request", title: "T" };
    for (const kind of ["two words", "a/b", "", "-leading", 'quote"d']) {
      const plugin = await PolicyPlugin.create(await problemProbe, { config: { ...base, kind } });
      await assert.rejects(plugin.call("on_request", exchange()), /policy answered with the problem kind/, JSON.stringify(kind));
      await plugin.close();
    }
    const plugin = await PolicyPlugin.create(await problemProbe, { config: { ...base, status: "99" } });
    await assert.rejects(plugin.call("on_request", exchange()), /a policy answered with status 99; expected 200 to 599/);
    await plugin.close();
  });
});
