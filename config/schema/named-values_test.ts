import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { namedValueReferences, redactText } from "./named-values.ts";
import { formatProblem } from "./problems.ts";
import { validateConfig } from "./validate.ts";

const BACKENDS = { b: { urls: ["http://127.0.0.1:9000"] } };

/** A configuration with one API whose inbound section is `inbound`, and these named values. */
function withPolicies(namedValues: unknown, inbound: unknown[]) {
  return { namedValues, apis: [{ name: "a", path: "/a", backend: "b", policies: { inbound } }], backends: BACKENDS };
}

function problems(input: unknown, options: Parameters<typeof validateConfig>[1] = {}): string[] {
  const result = validateConfig(input, options);
  assert.ok(!result.ok, "expected problems");
  return result.problems.map(formatProblem);
}

function inbound(input: unknown, options: Parameters<typeof validateConfig>[1] = {}): unknown[] {
  const result = validateConfig(input, options);
  if (!result.ok) assert.fail(result.problems.map(formatProblem).join("\n"));
  return result.config.apis[0]!.policies!.inbound!;
}

describe("named values: references", () => {
  it("replaces {{name}} in every string of with:, for built-in and custom policies, and leaves other braces alone", () => {
    const input = {
      ...withPolicies({ tenant: { value: "acme" }, n: { value: 7 }, "a.b_c-d": { value: "x" } }, [
        { policy: "set-header", with: { name: "x-t", value: "{{tenant}}-{{a.b_c-d}}" } },
        { policy: "rate-limit-by-key", with: { calls: 5, "renewal-period": 60, "counter-key": "{{{request.ip}}}{{ tenant }}{{n}}" } },
        { policy: "custom", with: { list: ["{{tenant}}", 1, { deep: "{{n}}" }], "{{tenant}}": "key untouched" } },
      ]),
      policies: { custom: { module: "./custom.wasm" } },
    };
    const uses = inbound(input) as { with: Record<string, unknown> }[];
    assert.equal(uses[0]!.with.value, "acme-x");
    assert.equal(uses[1]!.with["counter-key"], "{{{request.ip}}}{{ tenant }}7");
    assert.deepEqual(uses[2]!.with, { list: ["acme", 1, { deep: "7" }], "{{tenant}}": "key untouched" });
  });

  it("inserts a value as written, without looking for references in it again", () => {
    const uses = inbound(withPolicies({ open: { value: "{{" }, inner: { value: "{{open}}" } }, [
      { policy: "set-header", with: { name: "x", value: "{{inner}}" } },
    ])) as { with: Record<string, unknown> }[];
    assert.equal(uses[0]!.with.value, "{{open}}");
  });

  it("checks the result as if written inline: a whole reference may fill a number or boolean parameter", () => {
    const uses = inbound(withPolicies({ limit: { value: "100" }, period: { value: 60 }, yes: { value: true } }, [
      { policy: "rate-limit", with: { calls: "{{limit}}", "renewal-period": "{{period}}" } },
      { policy: "check-header", with: { name: "x", "ignore-case": "{{yes}}" } },
      { policy: "set-header", with: { name: "x", value: "{{limit}}" } },
    ])) as { with: Record<string, unknown> }[];
    assert.deepEqual(uses[0]!.with, { calls: 100, "renewal-period": 60 });
    assert.equal(uses[1]!.with["ignore-case"], true);
    assert.equal(uses[2]!.with.value, "100");
    assert.deepEqual(problems(withPolicies({ limit: { value: "007" } }, [{ policy: "rate-limit", with: { calls: "{{limit}}", "renewal-period": 1 } }])), [
      'apis[0].policies.inbound[0].with.calls: expected number, received string (got "{{limit}}")',
    ]);
  });

  it("reports an unknown name at its path, with a suggestion, and does not check that use further", () => {
    assert.deepEqual(
      problems(withPolicies({ tenant: { value: "acme" } }, [
        { policy: "set-header", with: { name: "x" } },
        { policy: "set-header", with: { name: "x", value: "{{tenat}}" } },
        { policy: "rate-limit", with: { calls: "{{foo}}" } },
      ])),
      [
        'apis[0].policies.inbound[0].with: needs a value unless exists-action is "delete" (got a map)',
        "apis[0].policies.inbound[1].with.value: unknown named value {{tenat}} (did you mean {{tenant}}? known: tenant)",
        "apis[0].policies.inbound[2].with.calls: unknown named value {{foo}} (known: tenant)",
      ],
    );
  });

  it("lists the names a value references", () => {
    assert.deepEqual([...namedValueReferences({ a: ["{{x}} {{y.z}}", 3], b: { c: "{{{q}}} {{ w }}" } })], ["x", "y.z"]);
  });
});

describe("named values: declarations", () => {
  it("follows APIM's naming rule and takes exactly one of value, env and file", () => {
    assert.deepEqual(
      problems({ namedValues: { "bad name": { value: "x" }, both: { value: "x", file: "f" }, none: { secret: true }, empty: { value: "" } } }),
      [
        `namedValues.bad name: invalid key: expected a named value name of letters, digits, '.', '-' or '_' (at most 256) (got "bad name")`,
        "namedValues.both: takes exactly one of value, env and file, not value and file together",
        "namedValues.none: needs value, env or file",
        "namedValues.empty.value: must not be empty",
      ],
    );
  });

  it("reads env and file values through the reader it is given, secret by default, and reports what cannot be read", () => {
    const read = (source: { env: string } | { file: string }) => {
      if ("env" in source) {
        if (source.env === "SET") return { value: "from-env" };
        throw new Error(`the environment variable ${source.env} is not set`);
      }
      return { value: "from-file\n", file: `/abs/${source.file}` };
    };
    const result = validateConfig(
      withPolicies({ e: { env: "SET" }, f: { file: "f.txt" }, p: { file: "p.txt", secret: false } }, [
        { policy: "set-header", with: { name: "x", value: "{{e}}/{{f}}/{{p}}" } },
      ]),
      { readNamedValue: read },
    );
    assert.ok(result.ok);
    assert.deepEqual(Object.fromEntries(result.namedValues), {
      e: { value: "from-env", secret: true },
      f: { value: "from-file", secret: true, file: "/abs/f.txt" },
      p: { value: "from-file", secret: false, file: "/abs/p.txt" },
    });
    assert.deepEqual(problems({ namedValues: { u: { env: "UNSET" } } }, { readNamedValue: read }), [
      "namedValues.u.env: the environment variable UNSET is not set",
    ]);
  });

  it("refuses env and file values in a view (a gateway fed by a control plane reads neither)", () => {
    assert.deepEqual(problems({ namedValues: { f: { file: "x" } } }, { modules: "digest", readNamedValue: () => ({ value: "x" }) }), [
      "namedValues.f.file: a gateway fed by a control plane takes named values inline only (the control plane reads env and file values)",
    ]);
  });
});

describe("named values: secrets are never printed", () => {
  const secret = "Sup3r secret {part.of.it}\nline two";

  it("shows parameters as written and redacts the secret from every problem, fragments a template would quote included", () => {
    const found = problems(withPolicies({ s: { value: secret, secret: true }, t: { value: "{part.of.it}", secret: true } }, [
      { policy: "set-header", with: { name: "{{s}}", value: "Bearer {{s}}" } },
      { policy: "rate-limit-by-key", with: { calls: 1, "renewal-period": 1, "counter-key": "x{{t}}" } },
      { policy: "set-backend-service", with: { "backend-id": "{{s}}" } },
    ]));
    assert.deepEqual(found, [
      'apis[0].policies.inbound[0].with.name: expected a header name (got "{{s}}")',
      'apis[0].policies.inbound[0].with.value: must not contain line breaks or control characters (got "Bearer {{s}}")',
      'apis[0].policies.inbound[1].with.counter-key: template has an unknown placeholder (not shown: the text holds a secret named value); known: {request.ip}, {request.method}, {request.path}, {request.query}, {request.header.NAME}, {request.query.NAME}, {request.route.NAME} or {NAME}, {context.variable.NAME}, {api.name}, {operation.name} (got "x{{t}}")',
      'apis[0].policies.inbound[2].with.backend-id: unknown backend "{{s}}" (known: b)',
    ]);
  });

  it("does not echo a secret's own value when its declaration is wrong", () => {
    const long = "k".repeat(5000);
    const found = problems({ namedValues: { s: { value: long, secret: true } } });
    assert.deepEqual(found, ["namedValues.s.value: must be at most 4096 characters"]);
  });

  it("redacts every occurrence, the longest secret first", () => {
    assert.equal(redactText("a-abc-abcd-x", ["abc", "abcd"]), "a-***-***-x");
  });
});
