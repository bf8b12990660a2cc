import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { templateProblem } from "../../../config/schema/template.ts";
import type { PolicyExchange } from "../abi.ts";
import { compileTemplate, tokenReader } from "./token.ts";

/** An exchange with a value for every placeholder. */
function exchange(): PolicyExchange {
  return {
    method: "POST",
    path: "/orders/42",
    search: "?token=q1&x=y",
    requestHeaders: new Headers({ "x-token": "h1", authorization: "Bearer b1" }),
    responseHeaders: undefined,
    clientIp: "10.0.0.7",
    api: "orders",
    operation: "get-order",
    params: { id: "42", "order-id": "o-42" },
    variables: new Map([["tok", "v1"]]),
    subscription: { id: "sub-1", name: "alice" },
    product: "gold",
    claims: new Map([["sub", "alice"], ["roles", "a,b"]]),
  };
}

describe("token-value templates", () => {
  it("renders every placeholder the configuration accepts", () => {
    const cases: [string, string][] = [
      ["{request.ip}", "10.0.0.7"],
      ["{request.method}", "POST"],
      ["{request.path}", "/orders/42"],
      ["{request.query}", "token=q1&x=y"],
      ["{request.header.x-token}", "h1"],
      ["{request.query.token}", "q1"],
      ["{request.route.order-id}", "o-42"],
      ["{id}", "42"],
      ["{context.variable.tok}", "v1"],
      ["{api.name}", "orders"],
      ["{operation.name}", "get-order"],
      ["{subscription.id}", "sub-1"],
      ["{subscription.name}", "alice"],
      ["{product.name}", "gold"],
      ["{jwt.claim.roles}", "a,b"],
      ["{{literal}} {jwt.claim.sub}", "{literal} alice"],
    ];
    for (const [template, expected] of cases) {
      assert.equal(templateProblem(template), undefined, `${template} is accepted by the configuration`);
      assert.equal(compileTemplate(template)(exchange()), expected, template);
    }
  });

  it("renders absent values as empty text", () => {
    const bare: PolicyExchange = { method: "GET", path: "/", requestHeaders: new Headers(), responseHeaders: undefined, search: "" };
    const all = "{subscription.id}{subscription.name}{product.name}{jwt.claim.sub}{id}{request.header.x}{context.variable.v}{api.name}";
    assert.equal(compileTemplate(all)(bare), "");
  });

  it("refuses a placeholder the configuration does not accept instead of reading a route parameter", () => {
    for (const name of ["subscription.key", "jwt.claim.", "request.foo", "request.route."]) {
      assert.ok(templateProblem(`{${name}}`), `{${name}} is refused by the configuration`);
      assert.throws(() => compileTemplate(`{${name}}`), /unknown template placeholder/, name);
    }
  });

  it("reads the token from a template, trimmed", () => {
    const read = tokenReader({ template: " {request.header.x-token} " });
    assert.equal(read(exchange()), "h1");
    assert.equal(tokenReader({ template: "{jwt.claim.none}" })(exchange()), undefined);
  });
});
