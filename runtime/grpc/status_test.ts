import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeGrpcMessage, encodeGrpcMessage, GrpcStatus, grpcStatusForHttp, grpcStatusForReset } from "./status.ts";

describe("gRPC status of the gateway's HTTP answers", () => {
  it("maps the statuses gateways and policies answer with", () => {
    assert.equal(grpcStatusForHttp(400), GrpcStatus.INTERNAL);
    assert.equal(grpcStatusForHttp(401), GrpcStatus.UNAUTHENTICATED);
    assert.equal(grpcStatusForHttp(403), GrpcStatus.PERMISSION_DENIED);
    assert.equal(grpcStatusForHttp(404), GrpcStatus.UNIMPLEMENTED);
    assert.equal(grpcStatusForHttp(405), GrpcStatus.UNIMPLEMENTED);
    assert.equal(grpcStatusForHttp(408), GrpcStatus.DEADLINE_EXCEEDED);
    assert.equal(grpcStatusForHttp(429), GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(grpcStatusForHttp(502), GrpcStatus.UNAVAILABLE);
    assert.equal(grpcStatusForHttp(503), GrpcStatus.UNAVAILABLE);
    assert.equal(grpcStatusForHttp(504), GrpcStatus.DEADLINE_EXCEEDED);
  });

  it("anything else is UNKNOWN, success statuses included (a policy that answers 200 is not a gRPC answer)", () => {
    for (const status of [200, 204, 302, 409, 413, 500, 501]) assert.equal(grpcStatusForHttp(status), GrpcStatus.UNKNOWN, String(status));
  });

  it("maps HTTP/2 reset codes as gRPC does", () => {
    assert.equal(grpcStatusForReset(0x7), GrpcStatus.UNAVAILABLE);
    assert.equal(grpcStatusForReset(0x8), GrpcStatus.CANCELLED);
    assert.equal(grpcStatusForReset(0xb), GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(grpcStatusForReset(0xc), GrpcStatus.PERMISSION_DENIED);
    assert.equal(grpcStatusForReset(0x2), GrpcStatus.INTERNAL);
  });
});

describe("grpc-message encoding", () => {
  it("leaves printable ASCII as it is", () => {
    assert.equal(encodeGrpcMessage("key missing: try again"), "key missing: try again");
  });

  it("percent-encodes %, control characters and the UTF-8 bytes of other characters", () => {
    assert.equal(encodeGrpcMessage("100%"), "100%25");
    assert.equal(encodeGrpcMessage("a\nb"), "a%0Ab");
    assert.equal(encodeGrpcMessage("café ✓"), "caf%C3%A9 %E2%9C%93");
  });

  it("decodes what it encodes, and leaves a malformed escape as it is", () => {
    for (const text of ["100%", "café ✓", "tab\there", "plain"]) assert.equal(decodeGrpcMessage(encodeGrpcMessage(text)), text);
    assert.equal(decodeGrpcMessage("50%zz"), "50%zz");
    assert.equal(decodeGrpcMessage("end%4"), "end%4");
  });
});
