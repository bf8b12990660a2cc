/**
 * The text format (WAT) of a generated module, for reading a failing case: instructions in the
 * flat form, indented by nesting, labels as relative depths, as in the binary.
 */
import type { BlockType, FuncType, Instr, ModuleSpec, ValType } from "./wasm-module.ts";

function blockType(b: BlockType, types: readonly FuncType[]): string {
  if (b.kind === "empty") return "";
  if (b.kind === "value") return ` (result ${b.type})`;
  const t = types[b.index]!;
  return ` (type ${b.index})${signature(t)}`;
}

function signature(t: FuncType): string {
  return (t.params.length ? ` (param ${t.params.join(" ")})` : "") + (t.results.length ? ` (result ${t.results.join(" ")})` : "");
}

/** A float constant from its bits, exactly (NaN payloads and -0 included). */
function float(op: string, bits: bigint): string {
  const view = new DataView(new ArrayBuffer(8));
  let value: number;
  let payload: bigint;
  if (op === "f32.const") {
    view.setUint32(0, Number(BigInt.asUintN(32, bits)));
    value = view.getFloat32(0);
    payload = BigInt.asUintN(23, bits);
  } else {
    view.setBigUint64(0, BigInt.asUintN(64, bits));
    value = view.getFloat64(0);
    payload = BigInt.asUintN(52, bits);
  }
  const negative = op === "f32.const" ? (bits >> 31n) & 1n : (bits >> 63n) & 1n;
  if (Number.isNaN(value)) return `${negative ? "-" : ""}nan:0x${payload.toString(16)}`;
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  return Object.is(value, -0) ? "-0" : String(value);
}

function instruction(i: Instr, types: readonly FuncType[]): string {
  if (i.block) return `${i.op}${blockType(i.block, types)}`;
  if (i.op === "f32.const" || i.op === "f64.const") return `${i.op} ${float(i.op, BigInt(i.value!))}`;
  if (i.op === "v128.const") return `v128.const i8x16 ${i.bytes!.join(" ")}`;
  if (i.op === "i8x16.shuffle") return `i8x16.shuffle ${i.bytes!.join(" ")}`;
  if (i.op === "ref.null") return "ref.null func";
  if (i.op === "memory.init") return `memory.init ${i.index}`;
  if (i.lane !== undefined && i.align !== undefined) return `${i.op}${i.offset ? ` offset=${i.offset}` : ""} align=${2 ** i.align} ${i.lane}`;
  if (i.lane !== undefined) return `${i.op} ${i.lane}`;
  if (i.op === "select_t") return `select (result ${i.typed})`;
  if (i.op === "br_table") return `br_table ${[...i.labels!, i.fallback!].join(" ")}`;
  if (i.op === "call_indirect" || i.op === "return_call_indirect") return `${i.op} (type ${i.index})`;
  if (i.align !== undefined) return `${i.op}${i.offset ? ` offset=${i.offset}` : ""} align=${2 ** i.align}`;
  if (i.value !== undefined) return `${i.op} ${i.value}`;
  if (i.index !== undefined) return `${i.op} ${i.index}`;
  return i.op;
}

function bytes(data: Uint8Array): string {
  return `"${[...data].map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("")}"`;
}

function init(type: ValType, value: number | bigint): string {
  return `(${type}.const ${value})`;
}

/** The module in the text format (function bodies flat, one instruction a line). */
export function toWat(spec: ModuleSpec): string {
  const lines: string[] = ["(module"];
  spec.types.forEach((t, i) => lines.push(`  (type (;${i};) (func${signature(t)}))`));
  let functions = 0;
  let globals = 0;
  for (const imp of spec.imports) {
    const head = `  (import "${imp.module}" "${imp.name}"`;
    if (imp.kind === "func") lines.push(`${head} (func (;${functions++};) (type ${imp.type})))`);
    else if (imp.kind === "global") lines.push(`${head} (global (;${globals++};) ${imp.type}))`);
    else lines.push(`${head} (table ${imp.min} funcref))`);
  }
  if (spec.table) lines.push(`  (table ${spec.table.min} ${spec.table.min} funcref)`);
  if (spec.memory) lines.push(`  (memory ${spec.memory.min}${spec.memory.max === undefined ? "" : ` ${spec.memory.max}`})`);
  for (const g of spec.globals) lines.push(`  (global (;${globals++};) ${g.mutable ? `(mut ${g.type})` : g.type} ${init(g.type, g.init)})`);
  for (const e of spec.exports) lines.push(`  (export "${e.name}" (${e.kind} ${e.index}))`);
  if (spec.start !== undefined) lines.push(`  (start ${spec.start})`);
  for (const e of spec.elements) lines.push(`  (elem (i32.const ${e.offset}) func ${e.functions.join(" ")})`);
  for (const f of spec.functions) {
    lines.push(`  (func (;${functions++};) (type ${f.type})${signature(spec.types[f.type]!)}${f.locals.length ? ` (local ${f.locals.join(" ")})` : ""}`);
    let depth = 2;
    for (const i of f.body) {
      if (i.op === "end" || i.op === "else") depth--;
      lines.push(`${"  ".repeat(depth)}${instruction(i, spec.types)}`);
      if (i.block || i.op === "else") depth++;
    }
    lines.push("  )");
  }
  for (const d of spec.data) lines.push(d.offset === undefined ? `  (data ${bytes(d.bytes)})` : `  (data (i32.const ${d.offset}) ${bytes(d.bytes)})`);
  for (const c of spec.customs) lines.push(`  ;; custom section "${c.name}" (${c.bytes.length} bytes) before section ${c.before ?? "end"}`);
  lines.push(")");
  return lines.join("\n");
}
