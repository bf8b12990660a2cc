/**
 * Runs a policy module against request fixtures without a server (`portico policy test`): the
 * real policy host (metering and budgets from `PolicyModuleCache`, instances from `PolicyPlugin`,
 * the ABI's host functions, the in-process counters and cache) on an exchange built from each
 * case, then compares what the policy did with what the case expects.
 */
import { customPolicyConfig, DEFAULT_BUDGET } from "../../config/snapshot/build.ts";
import type { Logger } from "../observability/log.ts";
import { applyDeferred, type PolicyExchange } from "./abi.ts";
import { type PolicyModule, PolicyModuleCache, PolicyPlugin } from "./extism.ts";
import type { FixtureCase, Fixtures } from "./fixtures.ts";
import { MemoryStateStore, type PolicyStateStore } from "./state.ts";
import { describeError } from "../../config/schema/problems.ts";

/** The outcome of one case: what differed from its expectations (nothing when it passed). */
export interface CaseResult {
  readonly name: string;
  readonly differences: readonly string[];
  /** Milliseconds the hook call took (including making an instance, the first time). */
  readonly ms: number;
}

type LogLine = { level: "info" | "warn" | "error"; message: string };

/** A logger that keeps the policy's lines for comparison. */
function capture(lines: LogLine[]): Logger {
  return {
    format: "json",
    debug: () => {},
    info: (message) => void lines.push({ level: "info", message }),
    warn: (message) => void lines.push({ level: "warn", message }),
    error: (message) => void lines.push({ level: "error", message }),
    access: () => {},
  };
}

function headersFrom(map: Readonly<Record<string, string | readonly string[]>>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(map)) for (const v of typeof value === "string" ? [value] : value) headers.append(name, v);
  return headers;
}

const show = (value: string | null | undefined) => (value === null || value === undefined ? "nothing" : JSON.stringify(value));

/** Compares expected header values and removals with `headers`, adding one line per difference. */
function compareHeaders(where: string, headers: Headers, expected: { headers?: Record<string, string>; removed?: string[] }, out: string[]): void {
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    const actual = headers.get(name);
    if (actual !== value) out.push(`${where}.headers.${name}: expected ${show(value)}, got ${show(actual)}`);
  }
  for (const name of expected.removed ?? []) {
    if (headers.has(name)) out.push(`${where}.removed: expected ${name} to be removed, it is ${show(headers.get(name))}`);
  }
}

/** What the policy did, compared with what the case expects. */
function compare(test: FixtureCase, ex: PolicyExchange, failure: string | undefined, logs: LogLine[]): string[] {
  const expect = test.expect;
  const out: string[] = [];
  if (expect.error !== undefined) {
    if (failure === undefined) {
      out.push(`error: expected the policy to fail with ${show(expect.error)}, it ${ex.reply ? `replied ${ex.reply.status}` : "continued"}`);
    } else if (!failure.includes(expect.error)) out.push(`error: expected a failure with ${show(expect.error)}, got ${show(failure)}`);
  } else if (failure !== undefined) {
    return [`the policy failed: ${failure}`];
  }
  if (expect.reply) {
    if (!ex.reply) out.push(`reply: expected the policy to reply${expect.reply.status ? ` ${expect.reply.status}` : ""}, it continued`);
    else {
      const { status, headers, body } = ex.reply;
      // The client gets the reply's headers with the response header changes of on_request applied.
      const sent = new Headers(headers);
      if (ex.deferred) applyDeferred(sent, ex.deferred);
      if (expect.reply.status !== undefined && status !== expect.reply.status) out.push(`reply.status: expected ${expect.reply.status}, got ${status}`);
      compareHeaders("reply", sent, { headers: expect.reply.headers }, out);
      if (expect.reply.body !== undefined && body !== expect.reply.body) out.push(`reply.body: expected ${show(expect.reply.body)}, got ${show(body)}`);
    }
  } else if (expect.error === undefined && ex.reply) {
    out.push(`continue: expected the policy to let the request go on, it replied ${ex.reply.status} ${show(ex.reply.body.slice(0, 200))}`);
  }
  if (expect.request) {
    compareHeaders("request", ex.requestHeaders, expect.request, out);
    if (expect.request.path !== undefined && ex.rest !== expect.request.path) {
      out.push(`request.path: expected ${show(expect.request.path)}, got ${show(ex.rest)}`);
    }
    const query = (ex.search ?? "").replace(/^\?/, "");
    if (expect.request.query !== undefined && query !== expect.request.query) {
      out.push(`request.query: expected ${show(expect.request.query)}, got ${show(query)}`);
    }
  }
  if (expect.response) {
    // In on_request, response header changes wait for the response: show them applied to it.
    const headers = ex.responseHeaders ?? headersFrom(test.response?.headers ?? {});
    if (!ex.responseHeaders && ex.deferred) applyDeferred(headers, ex.deferred);
    compareHeaders("response", headers, expect.response, out);
  }
  for (const [name, value] of Object.entries(expect.variables ?? {})) {
    const actual = ex.variables?.get(name);
    if (actual !== value) out.push(`variables.${name}: expected ${show(value)}, got ${show(actual)}`);
  }
  if (expect.backend !== undefined && ex.backend !== expect.backend) out.push(`backend: expected ${show(expect.backend)}, got ${show(ex.backend)}`);
  if (expect["backend-url"] !== undefined && ex.backendUrl !== expect["backend-url"]) {
    out.push(`backend-url: expected ${show(expect["backend-url"])}, got ${show(ex.backendUrl)}`);
  }
  if (expect.logs) {
    const want = expect.logs.map((l) => `${l.level} ${JSON.stringify(l.message)}`);
    const got = logs.map((l) => `${l.level} ${JSON.stringify(l.message)}`);
    if (want.join("\n") !== got.join("\n")) out.push(`logs: expected [${want.join(", ")}], got [${got.join(", ")}]`);
  }
  return out;
}

/** The exchange a case starts from, as the gateway would hand it to the policy. */
function exchangeFor(test: FixtureCase, policy: string, logs: LogLine[], state: PolicyStateStore): PolicyExchange {
  const { request, response } = test;
  const outbound = test.hook === "on_response";
  return {
    method: request.method,
    path: request.path,
    requestHeaders: headersFrom(request.headers),
    responseHeaders: outbound ? headersFrom(response?.headers ?? {}) : undefined,
    status: outbound ? (response?.status ?? 200) : undefined,
    rest: request.path,
    search: request.query ? `?${request.query.replace(/^\?/, "")}` : "",
    params: request.params,
    clientIp: request["client-ip"],
    api: request.api,
    operation: request.operation,
    backends: new Set(request.backends),
    variables: new Map(Object.entries(request.variables)),
    subscription: request.subscription,
    product: request.product,
    claims: request.claims ? new Map(Object.entries(request.claims)) : undefined,
    policy,
    logger: capture(logs),
    state,
  };
}

/**
 * Compiles a module with the fixtures' budget (or the default one), as a gateway would. Rejects
 * with a PolicyModuleError when the module cannot be a policy.
 */
export function compileForFixtures(bytes: Uint8Array, fixtures: Fixtures): Promise<PolicyModule> {
  const budget = { fuel: fixtures.budget?.fuel ?? DEFAULT_BUDGET.fuel, memoryBytes: fixtures.budget?.memory ?? DEFAULT_BUDGET.memoryBytes };
  return new PolicyModuleCache().compile(bytes, undefined, budget);
}

/**
 * Runs every case in order and reports each one as it finishes. Cases with the same parameters
 * share one instance (as uses of one policy share one in a gateway), and state (counters, cache)
 * carries from case to case; an instance that failed is replaced by a fresh one, as in a gateway.
 * Rejects when an instance cannot be made (for example a module for another ABI version).
 */
export async function runFixtures(module: PolicyModule, fixtures: Fixtures, policy: string, report: (result: CaseResult) => void): Promise<CaseResult[]> {
  const instances = new Map<string, PolicyPlugin>();
  const results: CaseResult[] = [];
  // One store for the run, as a gateway has one for its life: counters and cache carry from case to case.
  const state = new MemoryStateStore();
  try {
    for (const test of fixtures.cases) {
      const started = performance.now();
      const config = customPolicyConfig({ ...fixtures.with, ...test.with });
      const key = JSON.stringify(Object.entries(config).sort());
      let result: CaseResult;
      if (!module.hooks.has(test.hook)) {
        result = { name: test.name, differences: [`hook: the module does not export ${test.hook}`], ms: 0 };
      } else {
        let plugin = instances.get(key);
        if (!plugin) instances.set(key, plugin = await PolicyPlugin.create(module, { config }));
        const logs: LogLine[] = [];
        const exchange = exchangeFor(test, policy, logs, state);
        let failure: string | undefined;
        try {
          await plugin.call(test.hook, exchange);
        } catch (error) {
          failure = describeError(error);
          instances.delete(key);
          await plugin.close();
        }
        // The request is over: concurrency slots go back, as when a gateway's response is ready.
        for (const release of exchange.releases ?? []) release();
        result = { name: test.name, differences: compare(test, exchange, failure, logs), ms: performance.now() - started };
      }
      results.push(result);
      report(result);
    }
  } finally {
    for (const plugin of instances.values()) await plugin.close();
  }
  return results;
}
