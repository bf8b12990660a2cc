// Portico policy SDK for AssemblyScript, ABI v1. A policy re-exports `portico_abi_version` and
// exports the hooks it implements (`on_request`, `on_response`); it reads and changes the
// exchange through the classes below. Strings are UTF-8 on the wire, whatever they contain.
import "./abort";

// Extism's kernel: memory blocks shared with the host, and the policy's configuration.
@external("extism:host/env", "alloc") declare function extism_alloc(length: u64): u64;
@external("extism:host/env", "length") declare function extism_length(offset: u64): u64;
@external("extism:host/env", "load_u8") declare function extism_load_u8(offset: u64): u8;
@external("extism:host/env", "store_u8") declare function extism_store_u8(offset: u64, value: u8): void;
@external("extism:host/env", "load_u64") declare function extism_load_u64(offset: u64): u64;
@external("extism:host/env", "store_u64") declare function extism_store_u64(offset: u64, value: u64): void;
@external("extism:host/env", "config_get") declare function extism_config_get(key: u64): u64;

// Portico's host functions (runtime/policy/abi.ts).
@external("extism:host/user", "portico_request_method") declare function host_request_method(): u64;
@external("extism:host/user", "portico_request_path") declare function host_request_path(): u64;
@external("extism:host/user", "portico_request_header") declare function host_request_header(name: u64): u64;
@external("extism:host/user", "portico_request_header_set") declare function host_request_header_set(name: u64, value: u64): void;
@external("extism:host/user", "portico_request_header_append") declare function host_request_header_append(name: u64, value: u64): void;
@external("extism:host/user", "portico_request_header_remove") declare function host_request_header_remove(name: u64): void;
@external("extism:host/user", "portico_response_header") declare function host_response_header(name: u64): u64;
@external("extism:host/user", "portico_response_header_set") declare function host_response_header_set(name: u64, value: u64): void;
@external("extism:host/user", "portico_response_header_append") declare function host_response_header_append(name: u64, value: u64): void;
@external("extism:host/user", "portico_response_header_remove") declare function host_response_header_remove(name: u64): void;
@external("extism:host/user", "portico_reply") declare function host_reply(status: i32, body: u64): void;
@external("extism:host/user", "portico_reply_header") declare function host_reply_header(name: u64, value: u64): void;

/** The ABI this SDK targets, `(major << 16) | minor`. Every policy re-exports it. */
export function portico_abi_version(): i32 {
  return 0x10000;
}

// Every load and store is a call into the host, so bytes move 8 at a time, then one by one.
function toBlock(value: string): u64 {
  const buffer = String.UTF8.encode(value);
  const length = buffer.byteLength;
  const offset = extism_alloc(length);
  const base = changetype<usize>(buffer);
  let i = 0;
  for (; i + 8 <= length; i += 8) extism_store_u64(offset + <u64>i, load<u64>(base + i));
  for (; i < length; i++) extism_store_u8(offset + <u64>i, load<u8>(base + i));
  return offset;
}

function fromBlock(offset: u64): string | null {
  if (offset == 0) return null;
  const length = <i32>extism_length(offset);
  const buffer = new ArrayBuffer(length);
  const base = changetype<usize>(buffer);
  let i = 0;
  for (; i + 8 <= length; i += 8) store<u64>(base + i, extism_load_u64(offset + <u64>i));
  for (; i < length; i++) store<u8>(base + i, extism_load_u8(offset + <u64>i));
  return String.UTF8.decode(buffer);
}

/** The request on its way to the backend. */
export class Request {
  static method(): string {
    return fromBlock(host_request_method())!;
  }
  static path(): string {
    return fromBlock(host_request_path())!;
  }
  static header(name: string): string | null {
    return fromBlock(host_request_header(toBlock(name)));
  }
  static setHeader(name: string, value: string): void {
    host_request_header_set(toBlock(name), toBlock(value));
  }
  static appendHeader(name: string, value: string): void {
    host_request_header_append(toBlock(name), toBlock(value));
  }
  static removeHeader(name: string): void {
    host_request_header_remove(toBlock(name));
  }
}

/** The response on its way to the client (in `on_response`). */
export class Response {
  static header(name: string): string | null {
    return fromBlock(host_response_header(toBlock(name)));
  }
  static setHeader(name: string, value: string): void {
    host_response_header_set(toBlock(name), toBlock(value));
  }
  static appendHeader(name: string, value: string): void {
    host_response_header_append(toBlock(name), toBlock(value));
  }
  static removeHeader(name: string): void {
    host_response_header_remove(toBlock(name));
  }
}

/**
 * An answer from the policy itself instead of the backend's (or the backend's, in on_response):
 * once a hook has called `send`, the rest of the chain is skipped and the client gets this reply.
 */
export class Reply {
  static header(name: string, value: string): void {
    host_reply_header(toBlock(name), toBlock(value));
  }
  static send(status: i32, body: string): void {
    host_reply(status, toBlock(body));
  }
}

/** The policy's parameters (`with:` in the configuration), as strings. */
export class Config {
  static get(key: string): string | null {
    return fromBlock(extism_config_get(toBlock(key)));
  }
}
