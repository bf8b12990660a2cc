import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { plainHttpEndpoint } from "./control-plane.ts";

describe("plainHttpEndpoint", () => {
  it("names the origin of a plain http:// endpoint to a host that is not loopback", () => {
    assert.equal(plainHttpEndpoint("http://cp.example:8079"), "http://cp.example:8079");
    assert.equal(plainHttpEndpoint("http://10.0.0.5:8079/prefix/"), "http://10.0.0.5:8079");
    assert.equal(plainHttpEndpoint("http://[fd00::5]:8079"), "http://[fd00::5]:8079");
    assert.equal(plainHttpEndpoint("http://ops:hunter2@cp.example"), "http://cp.example", "never a user or password");
  });

  it("is undefined for https://, for loopback hosts, and for what is not a URL", () => {
    for (const endpoint of ["https://cp.example:8079", "http://127.0.0.1:8079", "http://[::1]:8079", "http://localhost:8079", "not a url"]) {
      assert.equal(plainHttpEndpoint(endpoint), undefined, endpoint);
    }
  });
});
