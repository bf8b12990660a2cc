import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isGrpcPath } from "./path.ts";

describe("gRPC method paths", () => {
  it("takes /package.Service/Method", () => {
    for (const path of ["/helloworld.Greeter/SayHello", "/Svc/m", "/a.b.c_d.E$1/Do-It"]) assert.equal(isGrpcPath(path), true, path);
  });

  it("refuses anything a router and a URL parser could read differently, or that is not two names", () => {
    for (
      const path of [
        "",
        "/",
        "/Svc",
        "/Svc/",
        "//m",
        "/Svc/m/extra",
        "/Svc/../Other/m",
        "/../m",
        "/Svc/..",
        "/./m",
        "/Svc/m?x=1",
        "/Svc%2Fm/x",
        "/Svc/m%2E",
        "/Svc\\x/m",
        "Svc/m",
        "/Svc/m#f",
        "/S vc/m",
      ]
    ) assert.equal(isGrpcPath(path), false, path);
  });
});
