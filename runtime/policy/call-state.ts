/**
 * The policy call in progress, as the host functions see it: the calling module's memory and
 * strings, the exchange it reads and changes, and what Extism's `call` used to keep per call (the
 * guest's error, whether blocks were made). PolicyPlugin (extism.ts) calls a hook's export
 * directly (docs/design/policy-engine.md), so it brackets each call with beginCall and endCall; the
 * host functions (abi.ts) read the state through the functions here. Calls are synchronous inside
 * the guest, so one call's state is never seen by another.
 */
import type { CallContext } from "@extism/extism";
import type { PolicyExchange } from "./abi.ts";
import { decodeAt, type GuestStrings } from "./guest-strings.ts";

/** A host function as Extism calls it: the call context, then the guest's arguments. */
export type HostFunction = (context: CallContext, ...args: (bigint | number)[]) => bigint | number | void;

/** Largest reply body a policy may hand over, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Largest single block a guest may allocate in Extism memory (a reply body plus headroom). */
export const MAX_BLOCK_BYTES = MAX_BODY_BYTES + 64 * 1024;

/** The linear memory of the module whose call is running (set by PolicyPlugin before each call). */
let callingMemory: WebAssembly.Memory | undefined;
/** The strings that module passed before (PolicyPlugin's own), if it keeps them. */
let callingStrings: GuestStrings | undefined;
/** The exchange the running call reads and changes (undefined for a call without one). */
let exchange: PolicyExchange | undefined;
/** The address of the block the running call set with Extism's `error_set` (0n: none). */
let errorAddress = 0n;

/** How a call ended, as far as the host functions saw it (one object, reused: see endCall). */
export interface CallOutcome {
  /** The text of the error the guest set with Extism's `error_set`, if it did. */
  error: string | undefined;
  /** Whether Extism blocks were made during the call, which the caller must then let go. */
  tookBlocks: boolean;
}

const outcome: CallOutcome = { error: undefined, tookBlocks: false };

/** The view of a memory for callers that keep no GuestStrings (tests calling host functions directly). */
const unkept = { buffer: undefined as ArrayBuffer | undefined, bytes: new Uint8Array(0) };

/**
 * Starts a call: names the memory of the module about to be called, the strings it passed before
 * (decoded once per place, see GuestStrings) and the exchange its host functions read and change.
 * The guest runs synchronously, so all three stay the caller's until endCall.
 */
export function beginCall(memory: WebAssembly.Memory | undefined, strings: GuestStrings | undefined, ex: PolicyExchange | undefined): void {
  callingMemory = memory;
  callingStrings = strings;
  exchange = ex;
  errorAddress = 0n;
  outcome.error = undefined;
  outcome.tookBlocks = false;
}

/** Ends the call beginCall started (the exchange is let go); answers how it ended, valid until the next call begins. */
export function endCall(): Readonly<CallOutcome> {
  exchange = undefined;
  return outcome;
}

/** The exchange of the call that is running (undefined, typed as an exchange, for a call made without one). */
export function callingExchange(): PolicyExchange {
  return exchange as PolicyExchange;
}

/**
 * The calling context, noted as holding blocks: every block of a call is made through here (the
 * host's `stored` values and the guest's `alloc`; Extism's own `config_get` and `var_get` need a
 * key block the guest made first), so a call that made none needs no reset after it.
 */
export function keep(context: CallContext): CallContext {
  outcome.tookBlocks = true;
  return context;
}

/** The calling module's memory as bytes: a view kept by its instance, made again only after the memory grew. */
export function guestBytes(): Uint8Array {
  if (!callingMemory) throw new Error("the module's memory is not available");
  if (callingStrings) return callingStrings.bytes(callingMemory);
  const buffer = callingMemory.buffer;
  if (buffer !== unkept.buffer) {
    unkept.buffer = buffer;
    unkept.bytes = new Uint8Array(buffer);
  }
  return unkept.bytes;
}

/** The string of `length` UTF-8 bytes at `pointer` in the calling module's memory: remembered by its instance when it keeps strings, else decoded. */
export function callingText(memory: Uint8Array, pointer: number, length: number): string {
  return callingStrings ? callingStrings.text(memory, pointer, length) : decodeAt(memory, pointer, length);
}

/**
 * Replacements for Extism's own `extism:host/env` functions: `alloc` refuses blocks larger than
 * MAX_BLOCK_BYTES before allocating them (Extism checks its page limit only after allocating).
 */
export const ENV_OVERRIDES: Readonly<Record<string, HostFunction>> = {
  alloc: (cx, size) => {
    const bytes = Number(size);
    if (!(bytes >= 0 && bytes <= MAX_BLOCK_BYTES)) throw new Error(`policy tried to allocate ${bytes} bytes of host memory; the limit is ${MAX_BLOCK_BYTES}`);
    const offset = keep(cx).alloc(BigInt(bytes));
    if (!offset) throw new Error("policy exceeded its host memory for this call");
    return offset;
  },
  // PolicyPlugin calls a hook's export itself, not through Extism's `call` (whose promise steps cost
  // more than the guest): Extism's record of the call's input, output and error is not made, so the
  // functions that read or write it are the host's. Hooks take no input and their output is not
  // read; an error the guest sets fails the call (`guest-error`, with its text), as Extism's `call` did.
  input_length: () => 0n,
  input_offset: () => 0n,
  input_load_u8: () => 0,
  input_load_u64: () => 0n,
  output_set: (cx, address) => {
    if (!cx.read(BigInt(address!))) throw new Error("policy set its output to an invalid memory offset");
  },
  error_set: (cx, address) => {
    const block = cx.read(BigInt(address!));
    if (!block) throw new Error("policy set its error to an invalid memory offset");
    errorAddress = BigInt(address!);
    outcome.error = block.text();
  },
  error_get: () => errorAddress,
};

/** The namespace of Extism's kernel functions (`alloc`, `load_u8`, `config_get`, ...). */
export const ENV_NAMESPACE = "extism:host/env";
