/** The integer instructions the program generator draws from (generate.ts), by kind. */
import type { ValType } from "./wasm-module.ts";

/** Unary integer instructions: the opcode, its result type and its operand type. */
export const UNARY: readonly { op: string; t: ValType; a: ValType }[] = [
  { op: "i32.eqz", t: "i32", a: "i32" },
  { op: "i32.clz", t: "i32", a: "i32" },
  { op: "i32.ctz", t: "i32", a: "i32" },
  { op: "i32.popcnt", t: "i32", a: "i32" },
  { op: "i32.extend8_s", t: "i32", a: "i32" },
  { op: "i32.extend16_s", t: "i32", a: "i32" },
  { op: "i64.eqz", t: "i32", a: "i64" },
  { op: "i32.wrap_i64", t: "i32", a: "i64" },
  { op: "i64.clz", t: "i64", a: "i64" },
  { op: "i64.ctz", t: "i64", a: "i64" },
  { op: "i64.popcnt", t: "i64", a: "i64" },
  { op: "i64.extend8_s", t: "i64", a: "i64" },
  { op: "i64.extend16_s", t: "i64", a: "i64" },
  { op: "i64.extend32_s", t: "i64", a: "i64" },
  { op: "i64.extend_i32_s", t: "i64", a: "i32" },
  { op: "i64.extend_i32_u", t: "i64", a: "i32" },
];
/** Binary integer operations that never trap (for both i32 and i64). */
export const ARITH = ["add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr"];
/** Binary integer operations that can trap (division by zero, signed overflow). */
export const DIVISION = ["div_s", "div_u", "rem_s", "rem_u"];
/** Integer comparisons (their result is i32). */
export const COMPARE = ["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"];
/** Loads per result type, with the natural alignment (log2 of the access width). */
export const LOADS: Record<ValType, readonly [string, number][]> = {
  i32: [["i32.load", 2], ["i32.load8_s", 0], ["i32.load8_u", 0], ["i32.load16_s", 1], ["i32.load16_u", 1]],
  i64: [["i64.load", 3], ["i64.load8_s", 0], ["i64.load8_u", 0], ["i64.load16_s", 1], ["i64.load16_u", 1], ["i64.load32_s", 2], ["i64.load32_u", 2]],
};
/** Stores per value type, with the natural alignment (log2 of the access width). */
export const STORES: Record<ValType, readonly [string, number][]> = {
  i32: [["i32.store", 2], ["i32.store8", 0], ["i32.store16", 1]],
  i64: [["i64.store", 3], ["i64.store8", 0], ["i64.store16", 1], ["i64.store32", 2]],
};
