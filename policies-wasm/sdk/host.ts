// The host's side of the SDK: Extism's kernel functions and Portico's host functions
// (runtime/policy/abi.ts) as the module imports them, and how strings and bytes cross to the host
// and back. The classes policies use are in index.ts.
// Extism's kernel: memory blocks shared with the host, and the policy's configuration.
@external("extism:host/env", "length") export declare function extism_length(offset: u64): u64;
@external("extism:host/env", "config_get") export declare function extism_config_get(key: u64): u64;

// Portico's host functions (runtime/policy/abi.ts).
@external("extism:host/user", "portico_request_method") export declare function host_request_method(): u64;
@external("extism:host/user", "portico_request_path") export declare function host_request_path(): u64;
@external("extism:host/user", "portico_request_header") export declare function host_request_header(name: u64): u64;
@external("extism:host/user", "portico_request_header_set") export declare function host_request_header_set(name: u64, value: u64): void;
@external("extism:host/user", "portico_request_header_append") export declare function host_request_header_append(name: u64, value: u64): void;
@external("extism:host/user", "portico_request_header_remove") export declare function host_request_header_remove(name: u64): void;
@external("extism:host/user", "portico_response_header") export declare function host_response_header(name: u64): u64;
@external("extism:host/user", "portico_response_header_set") export declare function host_response_header_set(name: u64, value: u64): void;
@external("extism:host/user", "portico_response_header_append") export declare function host_response_header_append(name: u64, value: u64): void;
@external("extism:host/user", "portico_response_header_remove") export declare function host_response_header_remove(name: u64): void;
@external("extism:host/user", "portico_reply") export declare function host_reply(status: i32, body: u64): void;
@external("extism:host/user", "portico_reply_header") export declare function host_reply_header(name: u64, value: u64): void;
// ABI 1.1
@external("extism:host/user", "portico_block_new") export declare function host_block_new(pointer: usize, length: i32): u64;
@external("extism:host/user", "portico_block_copy") export declare function host_block_copy(offset: u64, pointer: usize): void;
@external("extism:host/user", "portico_request_query") export declare function host_request_query(name: u64): u64;
@external("extism:host/user", "portico_request_query_string") export declare function host_request_query_string(): u64;
@external("extism:host/user", "portico_request_query_set") export declare function host_request_query_set(name: u64, value: u64): void;
@external("extism:host/user", "portico_request_query_append") export declare function host_request_query_append(name: u64, value: u64): void;
@external("extism:host/user", "portico_request_query_remove") export declare function host_request_query_remove(name: u64): void;
@external("extism:host/user", "portico_request_query_string_set") export declare function host_request_query_string_set(query: u64): void;
@external("extism:host/user", "portico_request_path_set") export declare function host_request_path_set(path: u64): void;
@external("extism:host/user", "portico_request_route_param") export declare function host_request_route_param(name: u64): u64;
@external("extism:host/user", "portico_client_ip") export declare function host_client_ip(): u64;
// ABI 1.2
@external("extism:host/user", "portico_client_certificate") export declare function host_client_certificate(field: u64): u64;
@external("extism:host/user", "portico_last_error") export declare function host_last_error(field: u64): u64;
@external("extism:host/user", "portico_request_body") export declare function host_request_body(): u64;
@external("extism:host/user", "portico_request_body_set") export declare function host_request_body_set(body: u64): void;
@external("extism:host/user", "portico_response_body") export declare function host_response_body(): u64;
@external("extism:host/user", "portico_response_body_set") export declare function host_response_body_set(body: u64): void;
@external("extism:host/user", "portico_route_api") export declare function host_route_api(): u64;
@external("extism:host/user", "portico_route_operation") export declare function host_route_operation(): u64;
@external("extism:host/user", "portico_response_status") export declare function host_response_status(): i32;
@external("extism:host/user", "portico_var_get") export declare function host_var_get(name: u64): u64;
@external("extism:host/user", "portico_var_set") export declare function host_var_set(name: u64, value: u64): void;
@external("extism:host/user", "portico_set_backend") export declare function host_set_backend(name: u64): void;
@external("extism:host/user", "portico_set_backend_url") export declare function host_set_backend_url(url: u64): void;
@external("extism:host/user", "portico_log") export declare function host_log(level: i32, message: u64): void;
@external("extism:host/user", "portico_counter_add") export declare function host_counter_add(key: u64, windowMs: i64, delta: i64, limit: i64): i64;
@external("extism:host/user", "portico_counter_reset_ms") export declare function host_counter_reset_ms(): i64;
@external("extism:host/user", "portico_cache_get") export declare function host_cache_get(key: u64): u64;
@external("extism:host/user", "portico_cache_set") export declare function host_cache_set(key: u64, value: u64, ttlMs: i64): void;
@external("extism:host/user", "portico_concurrency_acquire") export declare function host_concurrency_acquire(key: u64, max: i32): i32;
// ABI 1.3
@external("extism:host/user", "portico_reply_problem") export declare function host_reply_problem(status: i32, kind: u64, title: u64, detail: u64): void;
// ABI 1.4
@external("extism:host/user", "portico_context") export declare function host_context(name: u64): u64;
@external("extism:host/user", "portico_counter_add_bytes") export declare function host_counter_add_bytes(key: u64, windowMs: i64, which: i32): void;

// Strings to the host are passed as references into this module's memory (ABI 1.1: bit 63 set,
// length in bits 32-62, pointer in bits 0-31); the host decodes them in place. The encoded
// buffers stay referenced here until later calls replace them, so the collector cannot free one
// while a host function that takes several strings is reading it.
const pinned = new Array<ArrayBuffer | null>(8).fill(null);
let nextPin = 0;

export function toBlock(value: string): u64 {
  const buffer = utf8(value);
  pinned[nextPin] = buffer;
  nextPin = (nextPin + 1) & 7;
  return (<u64>1 << 63) | (<u64>buffer.byteLength << 32) | <u64>changetype<usize>(buffer);
}

// The UTF-8 of the last few short strings passed to the host, by identity. A policy passes the
// same parameter strings (read once from its configuration) on every call, so each is encoded once
// instead of per call. Strings are immutable, and the cache holds each string it keys on, so an
// address can never come to mean another string while its entry exists.
const ENCODED = 8;
const MAX_ENCODED_LENGTH = 256;
const encodedFrom = new Array<string>(0);
const encodedAs = new Array<ArrayBuffer>(0);
let nextEncoded = 0;

export function utf8(value: string): ArrayBuffer {
  const id = changetype<usize>(value);
  for (let i = 0; i < encodedFrom.length; i++) {
    if (changetype<usize>(unchecked(encodedFrom[i])) == id) return unchecked(encodedAs[i]);
  }
  const buffer = String.UTF8.encode(value);
  if (value.length > MAX_ENCODED_LENGTH) return buffer;
  if (encodedFrom.length < ENCODED) {
    encodedFrom.push(value);
    encodedAs.push(buffer);
  } else {
    encodedFrom[nextEncoded] = value;
    encodedAs[nextEncoded] = buffer;
    nextEncoded = (nextEncoded + 1) % ENCODED;
  }
  return buffer;
}

/** Copies a string into a new Extism block (for Extism's own functions, which read only blocks). */
export function toExtismBlock(value: string): u64 {
  const buffer = String.UTF8.encode(value);
  return host_block_new(changetype<usize>(buffer), buffer.byteLength);
}

/** Passes bytes by reference into this module's memory, pinned like strings. */
export function bytesToBlock(value: ArrayBuffer): u64 {
  pinned[nextPin] = value;
  nextPin = (nextPin + 1) & 7;
  return (<u64>1 << 63) | (<u64>value.byteLength << 32) | <u64>changetype<usize>(value);
}

/** The bytes of a block from the host (empty when it gave none). */
export function bytesFromBlock(offset: u64): ArrayBuffer {
  if (offset == 0) return new ArrayBuffer(0);
  const length = <i32>extism_length(offset);
  const buffer = new ArrayBuffer(length);
  if (length > 0) host_block_copy(offset, changetype<usize>(buffer));
  return buffer;
}

export function fromBlock(offset: u64): string | null {
  if (offset == 0) return null;
  const length = <i32>extism_length(offset);
  const buffer = new ArrayBuffer(length);
  if (length > 0) host_block_copy(offset, changetype<usize>(buffer));
  return String.UTF8.decode(buffer);
}
