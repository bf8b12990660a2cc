/**
 * A small model of a WebAssembly module (the parts the metering fuzzer generates) and its binary
 * encoding. It is written independently of `meter.ts`, so a misreading of the format in one is not
 * repeated in the other; the engine's validator is the referee.
 */

/** The value types generated programs use. */
export type ValType = "i32" | "i64";

/** A block, loop or if type: empty, one result, or a function type by index (params and results). */
export type BlockType = { readonly kind: "empty" } | { readonly kind: "value"; readonly type: ValType } | { readonly kind: "index"; readonly index: number };

/**
 * One instruction. `op` is its text-format name; the other fields are its immediates, present as
 * the instruction needs them. `pad` asks for that many extra bytes in each of its index, offset,
 * integer constant and block type index immediates (a valid, non-minimal LEB128 encoding the
 * rewriter must read like any other).
 */
export interface Instr {
  readonly op: string;
  /** Local, global, function, label or type index. */
  readonly index?: number;
  readonly value?: number | bigint;
  readonly block?: BlockType;
  readonly offset?: number;
  /** log2 of the alignment of a memory access. */
  readonly align?: number;
  readonly labels?: readonly number[];
  /** br_table's default label. */
  readonly fallback?: number;
  /** `select` with its result type written out (0x1c) rather than the plain form (0x1b). */
  readonly typed?: ValType;
  /** A SIMD lane index. */
  readonly lane?: number;
  /** The 16 bytes of a v128.const, or the 16 lane indices of an i8x16.shuffle. */
  readonly bytes?: readonly number[];
  readonly pad?: number;
}

/** A function type. */
export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** An import: a function (by type index), an immutable global, or a function table. */
export type Import =
  | { readonly module: string; readonly name: string; readonly kind: "func"; readonly type: number }
  | { readonly module: string; readonly name: string; readonly kind: "global"; readonly type: ValType }
  | { readonly module: string; readonly name: string; readonly kind: "table"; readonly min: number };

/** A function defined by the module. */
export interface Func {
  readonly type: number;
  /** Locals beyond the parameters. */
  readonly locals: readonly ValType[];
  readonly body: readonly Instr[];
  /** Extra bytes in the LEB128 of the body's size and of its local counts. */
  readonly pad?: number;
}

/** A global defined by the module, with a constant initial value. */
export interface Global {
  readonly type: ValType;
  readonly mutable: boolean;
  readonly init: number | bigint;
}

/** An export of a function, global, memory or table by index. */
export interface Export {
  readonly name: string;
  readonly kind: "func" | "table" | "memory" | "global";
  readonly index: number;
}

/** A custom section and the known section it is written before (undefined: at the end). */
export interface Custom {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly before?: number;
}

/** What a generated module holds. Function indices count imported functions first, as in the format. */
export interface ModuleSpec {
  readonly types: readonly FuncType[];
  readonly imports: readonly Import[];
  readonly functions: readonly Func[];
  /** A funcref table of this many entries, filled from `elements`. */
  readonly table?: { readonly min: number };
  readonly memory?: { readonly min: number; readonly max?: number };
  readonly globals: readonly Global[];
  readonly exports: readonly Export[];
  readonly start?: number;
  /** Active element segments at constant offsets of table 0 (the defined one, or the imported one). */
  readonly elements: readonly { readonly offset: number; readonly functions: readonly number[] }[];
  /** Data segments: active at a constant offset of memory 0, or passive (no offset) for memory.init. */
  readonly data: readonly { readonly offset?: number; readonly bytes: Uint8Array }[];
  readonly customs: readonly Custom[];
}

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e };

/** Unsigned LEB128, with `pad` extra bytes (still a valid encoding while the total is at most 5). */
export function uleb(value: number, pad = 0): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  for (;;) {
    const b = v & 0x7f;
    v >>>= 7;
    if (v === 0 && pad === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
    if (v === 0) pad--;
    if (v === 0 && pad === 0) {
      out.push(0);
      return out;
    }
  }
}

/** Signed LEB128 of a 32- or 64-bit value, with `pad` extra sign bytes. */
export function sleb(value: number | bigint, pad = 0): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    if (done && pad === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
    if (done) {
      const fill = v === -1n ? 0x7f : 0x00;
      for (let i = 1; i < pad; i++) out.push(fill | 0x80);
      out.push(fill);
      return out;
    }
  }
}

function utf8(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

function vector<T>(items: readonly T[], encode: (item: T) => number[]): number[] {
  return [...uleb(items.length), ...items.flatMap(encode)];
}

/** How each instruction's immediates are encoded, by name: [opcode bytes, immediate kind]. */
type Immediate =
  | "none"
  | "index"
  | "i32"
  | "i64"
  | "f32"
  | "f64"
  | "block"
  | "memarg"
  | "br_table"
  | "call_indirect"
  | "select_t"
  | "mem"
  | "mem2"
  | "index-mem"
  | "heap"
  | "lane"
  | "memarg-lane"
  | "bytes16";

const OPS = new Map<string, readonly [readonly number[], Immediate]>();
function ops(kind: Immediate, table: Record<string, number | readonly number[]>): void {
  for (const [name, code] of Object.entries(table)) OPS.set(name, [typeof code === "number" ? [code] : code, kind]);
}
ops("none", { unreachable: 0x00, nop: 0x01, else: 0x05, end: 0x0b, return: 0x0f, drop: 0x1a, select: 0x1b });
ops("block", { block: 0x02, loop: 0x03, if: 0x04 });
ops("index", {
  br: 0x0c,
  br_if: 0x0d,
  call: 0x10,
  return_call: 0x12,
  "local.get": 0x20,
  "local.set": 0x21,
  "local.tee": 0x22,
  "global.get": 0x23,
  "global.set": 0x24,
});
ops("br_table", { br_table: 0x0e });
ops("call_indirect", { call_indirect: 0x11, return_call_indirect: 0x13 });
ops("select_t", { "select_t": 0x1c });
ops("i32", { "i32.const": 0x41 });
ops("i64", { "i64.const": 0x42 });
ops("memarg", {
  "i32.load": 0x28,
  "i64.load": 0x29,
  "i32.load8_s": 0x2c,
  "i32.load8_u": 0x2d,
  "i32.load16_s": 0x2e,
  "i32.load16_u": 0x2f,
  "i64.load8_s": 0x30,
  "i64.load8_u": 0x31,
  "i64.load16_s": 0x32,
  "i64.load16_u": 0x33,
  "i64.load32_s": 0x34,
  "i64.load32_u": 0x35,
  "i32.store": 0x36,
  "i64.store": 0x37,
  "i32.store8": 0x3a,
  "i32.store16": 0x3b,
  "i64.store8": 0x3c,
  "i64.store16": 0x3d,
  "i64.store32": 0x3e,
});
ops("mem", { "memory.size": 0x3f, "memory.grow": 0x40, "memory.fill": [0xfc, 11] });
ops("mem2", { "memory.copy": [0xfc, 10] });
ops("f32", { "f32.const": 0x43 });
ops("f64", { "f64.const": 0x44 });
ops("memarg", { "f32.load": 0x2a, "f64.load": 0x2b });
ops("index-mem", { "memory.init": [0xfc, 8] });
ops("index", { "data.drop": [0xfc, 9], "table.size": [0xfc, 16], "table.get": 0x25, "ref.func": 0xd2 });
ops("heap", { "ref.null": 0xd0 });
ops("none", {
  "ref.is_null": 0xd1,
  "f32.eq": 0x5b,
  "f32.ne": 0x5c,
  "f32.lt": 0x5d,
  "f32.gt": 0x5e,
  "f32.le": 0x5f,
  "f32.ge": 0x60,
  "f64.eq": 0x61,
  "f64.ne": 0x62,
  "f64.lt": 0x63,
  "f64.gt": 0x64,
  "f64.le": 0x65,
  "f64.ge": 0x66,
  "f32.abs": 0x8b,
  "f32.neg": 0x8c,
  "f32.ceil": 0x8d,
  "f32.floor": 0x8e,
  "f32.trunc": 0x8f,
  "f32.nearest": 0x90,
  "f32.sqrt": 0x91,
  "f32.add": 0x92,
  "f32.sub": 0x93,
  "f32.mul": 0x94,
  "f32.div": 0x95,
  "f32.min": 0x96,
  "f32.max": 0x97,
  "f32.copysign": 0x98,
  "f64.abs": 0x99,
  "f64.neg": 0x9a,
  "f64.ceil": 0x9b,
  "f64.floor": 0x9c,
  "f64.trunc": 0x9d,
  "f64.nearest": 0x9e,
  "f64.sqrt": 0x9f,
  "f64.add": 0xa0,
  "f64.sub": 0xa1,
  "f64.mul": 0xa2,
  "f64.div": 0xa3,
  "f64.min": 0xa4,
  "f64.max": 0xa5,
  "f64.copysign": 0xa6,
  "i32.trunc_f32_s": 0xa8,
  "i32.trunc_f32_u": 0xa9,
  "i32.trunc_f64_s": 0xaa,
  "i32.trunc_f64_u": 0xab,
  "i64.trunc_f32_s": 0xae,
  "i64.trunc_f32_u": 0xaf,
  "i64.trunc_f64_s": 0xb0,
  "i64.trunc_f64_u": 0xb1,
  "f32.convert_i32_s": 0xb2,
  "f32.convert_i32_u": 0xb3,
  "f32.convert_i64_s": 0xb4,
  "f32.convert_i64_u": 0xb5,
  "f32.demote_f64": 0xb6,
  "f64.convert_i32_s": 0xb7,
  "f64.convert_i32_u": 0xb8,
  "f64.convert_i64_s": 0xb9,
  "f64.convert_i64_u": 0xba,
  "f64.promote_f32": 0xbb,
  "i32.reinterpret_f32": 0xbc,
  "i64.reinterpret_f64": 0xbd,
  "f32.reinterpret_i32": 0xbe,
  "f64.reinterpret_i64": 0xbf,
  "i32.trunc_sat_f32_s": [0xfc, 0],
  "i32.trunc_sat_f32_u": [0xfc, 1],
  "i32.trunc_sat_f64_s": [0xfc, 2],
  "i32.trunc_sat_f64_u": [0xfc, 3],
  "i64.trunc_sat_f32_s": [0xfc, 4],
  "i64.trunc_sat_f32_u": [0xfc, 5],
  "i64.trunc_sat_f64_s": [0xfc, 6],
  "i64.trunc_sat_f64_u": [0xfc, 7],
});
// SIMD: the prefix 0xfd and the sub-opcode as LEB128 (two bytes from 128 on).
const simd = (code: number): number[] => [0xfd, ...uleb(code)];
ops("memarg", {
  "v128.load": simd(0),
  "v128.load8x8_s": simd(1),
  "v128.load16x4_u": simd(4),
  "v128.load32x2_s": simd(5),
  "v128.load8_splat": simd(7),
  "v128.load16_splat": simd(8),
  "v128.load32_splat": simd(9),
  "v128.load64_splat": simd(10),
  "v128.store": simd(11),
  "v128.load32_zero": simd(92),
  "v128.load64_zero": simd(93),
});
ops("bytes16", { "v128.const": simd(12), "i8x16.shuffle": simd(13) });
ops("lane", {
  "i8x16.extract_lane_s": simd(21),
  "i8x16.extract_lane_u": simd(22),
  "i8x16.replace_lane": simd(23),
  "i16x8.extract_lane_s": simd(24),
  "i16x8.extract_lane_u": simd(25),
  "i16x8.replace_lane": simd(26),
  "i32x4.extract_lane": simd(27),
  "i32x4.replace_lane": simd(28),
  "i64x2.extract_lane": simd(29),
  "i64x2.replace_lane": simd(30),
  "f32x4.extract_lane": simd(31),
  "f32x4.replace_lane": simd(32),
  "f64x2.extract_lane": simd(33),
  "f64x2.replace_lane": simd(34),
});
ops("memarg-lane", {
  "v128.load8_lane": simd(84),
  "v128.load16_lane": simd(85),
  "v128.load32_lane": simd(86),
  "v128.load64_lane": simd(87),
  "v128.store8_lane": simd(88),
  "v128.store16_lane": simd(89),
  "v128.store32_lane": simd(90),
  "v128.store64_lane": simd(91),
});
ops("none", {
  "i8x16.swizzle": simd(14),
  "i8x16.splat": simd(15),
  "i16x8.splat": simd(16),
  "i32x4.splat": simd(17),
  "i64x2.splat": simd(18),
  "f32x4.splat": simd(19),
  "f64x2.splat": simd(20),
  "i8x16.eq": simd(35),
  "i32x4.eq": simd(55),
  "v128.not": simd(77),
  "v128.and": simd(78),
  "v128.andnot": simd(79),
  "v128.or": simd(80),
  "v128.xor": simd(81),
  "v128.bitselect": simd(82),
  "v128.any_true": simd(83),
  "i8x16.popcnt": simd(98),
  "i8x16.all_true": simd(99),
  "i8x16.bitmask": simd(100),
  "i8x16.add": simd(110),
  "i8x16.sub": simd(113),
  "i16x8.add": simd(142),
  "i16x8.sub": simd(145),
  "i16x8.mul": simd(149),
  "i32x4.all_true": simd(163),
  "i32x4.bitmask": simd(164),
  "i32x4.add": simd(174),
  "i32x4.sub": simd(177),
  "i32x4.mul": simd(181),
  "i32x4.dot_i16x8_s": simd(186),
  "i64x2.add": simd(206),
  "i64x2.sub": simd(209),
  "i64x2.mul": simd(213),
});
ops("none", {
  "i32.eqz": 0x45,
  "i32.eq": 0x46,
  "i32.ne": 0x47,
  "i32.lt_s": 0x48,
  "i32.lt_u": 0x49,
  "i32.gt_s": 0x4a,
  "i32.gt_u": 0x4b,
  "i32.le_s": 0x4c,
  "i32.le_u": 0x4d,
  "i32.ge_s": 0x4e,
  "i32.ge_u": 0x4f,
  "i64.eqz": 0x50,
  "i64.eq": 0x51,
  "i64.ne": 0x52,
  "i64.lt_s": 0x53,
  "i64.lt_u": 0x54,
  "i64.gt_s": 0x55,
  "i64.gt_u": 0x56,
  "i64.le_s": 0x57,
  "i64.le_u": 0x58,
  "i64.ge_s": 0x59,
  "i64.ge_u": 0x5a,
  "i32.clz": 0x67,
  "i32.ctz": 0x68,
  "i32.popcnt": 0x69,
  "i32.add": 0x6a,
  "i32.sub": 0x6b,
  "i32.mul": 0x6c,
  "i32.div_s": 0x6d,
  "i32.div_u": 0x6e,
  "i32.rem_s": 0x6f,
  "i32.rem_u": 0x70,
  "i32.and": 0x71,
  "i32.or": 0x72,
  "i32.xor": 0x73,
  "i32.shl": 0x74,
  "i32.shr_s": 0x75,
  "i32.shr_u": 0x76,
  "i32.rotl": 0x77,
  "i32.rotr": 0x78,
  "i64.clz": 0x79,
  "i64.ctz": 0x7a,
  "i64.popcnt": 0x7b,
  "i64.add": 0x7c,
  "i64.sub": 0x7d,
  "i64.mul": 0x7e,
  "i64.div_s": 0x7f,
  "i64.div_u": 0x80,
  "i64.rem_s": 0x81,
  "i64.rem_u": 0x82,
  "i64.and": 0x83,
  "i64.or": 0x84,
  "i64.xor": 0x85,
  "i64.shl": 0x86,
  "i64.shr_s": 0x87,
  "i64.shr_u": 0x88,
  "i64.rotl": 0x89,
  "i64.rotr": 0x8a,
  "i32.wrap_i64": 0xa7,
  "i64.extend_i32_s": 0xac,
  "i64.extend_i32_u": 0xad,
  "i32.extend8_s": 0xc0,
  "i32.extend16_s": 0xc1,
  "i64.extend8_s": 0xc2,
  "i64.extend16_s": 0xc3,
  "i64.extend32_s": 0xc4,
});

/** Whether `op` is an instruction this encoder knows. */
export function knownOp(op: string): boolean {
  return OPS.has(op);
}

function blockType(type: BlockType, pad: number): number[] {
  if (type.kind === "empty") return [0x40];
  if (type.kind === "value") return [VALTYPE[type.type]];
  // A type index is a signed 33-bit LEB128: at most 5 bytes.
  return sleb(type.index, Math.min(pad, 5 - sleb(type.index).length));
}

/** The bytes of one instruction. */
export function encodeInstr(instr: Instr): number[] {
  const spec = OPS.get(instr.op);
  if (!spec) throw new Error(`the fuzzer's encoder does not know ${instr.op}`);
  const [code, kind] = spec;
  // A padded LEB128 may not grow past the longest encoding of its type (5 bytes for 32 bits, 10 for 64).
  const room = (minimal: number[], longest: number) => Math.max(0, Math.min(instr.pad ?? 0, longest - minimal.length));
  const u = (value: number) => uleb(value, room(uleb(value), 5));
  switch (kind) {
    case "none":
      return [...code];
    case "block":
      return [...code, ...blockType(instr.block!, instr.pad ?? 0)];
    case "index":
      return [...code, ...u(instr.index!)];
    case "i32":
      return [...code, ...sleb(instr.value!, room(sleb(instr.value!), 5))];
    case "i64":
      return [...code, ...sleb(instr.value!, room(sleb(instr.value!), 10))];
    case "memarg":
      return [...code, ...uleb(instr.align!), ...u(instr.offset!)];
    case "br_table":
      return [...code, ...u(instr.labels!.length), ...instr.labels!.flatMap(u), ...u(instr.fallback!)];
    case "call_indirect":
      return [...code, ...u(instr.index!), 0x00];
    case "select_t":
      return [...code, 0x01, VALTYPE[instr.typed!]];
    case "mem":
      return [...code, 0x00];
    case "mem2":
      return [...code, 0x00, 0x00];
    case "index-mem":
      return [...code, ...u(instr.index!), 0x00];
    case "heap":
      return [...code, 0x70];
    case "f32":
    case "f64": {
      // The raw bits, little-endian: any byte may appear, opcodes of other instructions included.
      const size = kind === "f32" ? 4 : 8;
      const bits = BigInt.asUintN(size * 8, BigInt(instr.value!));
      return [...code, ...Array.from({ length: size }, (_, i) => Number((bits >> BigInt(8 * i)) & 0xffn))];
    }
    case "lane":
      return [...code, instr.lane!];
    case "memarg-lane":
      return [...code, ...uleb(instr.align!), ...u(instr.offset!), instr.lane!];
    case "bytes16":
      return [...code, ...instr.bytes!];
  }
}

function limits(min: number, max: number | undefined): number[] {
  return max === undefined ? [0x00, ...uleb(min)] : [0x01, ...uleb(min), ...uleb(max)];
}

function constExpr(type: ValType, value: number | bigint): number[] {
  return type === "i32" ? [0x41, ...sleb(value), 0x0b] : [0x42, ...sleb(value), 0x0b];
}

function localGroups(locals: readonly ValType[], pad: number): number[] {
  const groups: [number, ValType][] = [];
  for (const t of locals) {
    const last = groups.at(-1);
    if (last && last[1] === t) last[0]++;
    else groups.push([1, t]);
  }
  return [...uleb(groups.length, pad), ...groups.flatMap(([n, t]) => [...uleb(n, pad), VALTYPE[t]])];
}

const KIND: Record<Export["kind"], number> = { func: 0, table: 1, memory: 2, global: 3 };

/** The section order of the format (custom sections aside). */
const SECTION_ORDER = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11];

/** Encodes a module in the binary format. */
export function encodeModule(spec: ModuleSpec): Uint8Array {
  const sections = new Map<number, number[]>();
  if (spec.types.length) {
    sections.set(1, vector(spec.types, (t) => [0x60, ...vector(t.params, (p) => [VALTYPE[p]]), ...vector(t.results, (r) => [VALTYPE[r]])]));
  }
  if (spec.imports.length) {
    sections.set(
      2,
      vector(spec.imports, (i) => {
        const head = [...utf8(i.module), ...utf8(i.name)];
        if (i.kind === "func") return [...head, 0x00, ...uleb(i.type)];
        if (i.kind === "table") return [...head, 0x01, 0x70, ...limits(i.min, undefined)];
        return [...head, 0x03, VALTYPE[i.type], 0x00];
      }),
    );
  }
  if (spec.functions.length) sections.set(3, vector(spec.functions, (f) => uleb(f.type)));
  if (spec.table) sections.set(4, vector([spec.table], (t) => [0x70, ...limits(t.min, t.min)]));
  if (spec.memory) sections.set(5, vector([spec.memory], (m) => limits(m.min, m.max)));
  if (spec.globals.length) sections.set(6, vector(spec.globals, (g) => [VALTYPE[g.type], g.mutable ? 1 : 0, ...constExpr(g.type, g.init)]));
  if (spec.exports.length) sections.set(7, vector(spec.exports, (e) => [...utf8(e.name), KIND[e.kind], ...uleb(e.index)]));
  if (spec.start !== undefined) sections.set(8, uleb(spec.start));
  if (spec.elements.length) sections.set(9, vector(spec.elements, (e) => [0x00, ...constExpr("i32", e.offset), ...vector(e.functions, (f) => uleb(f))]));
  if (spec.functions.length) {
    sections.set(
      10,
      vector(spec.functions, (f) => {
        // Small counts and sizes, so that `pad` (at most 3) keeps each LEB128 within 5 bytes.
        const pad = Math.min(f.pad ?? 0, 3);
        const body = [...localGroups(f.locals, pad), ...f.body.flatMap(encodeInstr), 0x0b];
        return [...uleb(body.length, body.length < 1 << 14 ? pad : 0), ...body];
      }),
    );
  }
  if (spec.data.length) {
    // Passive segments (no offset) are for memory.init, which needs the data count section.
    if (spec.data.some((d) => d.offset === undefined)) sections.set(12, uleb(spec.data.length));
    sections.set(
      11,
      vector(spec.data, (d) => [...(d.offset === undefined ? [0x01] : [0x00, ...constExpr("i32", d.offset)]), ...uleb(d.bytes.length), ...d.bytes]),
    );
  }

  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const custom = (c: Custom) => {
    const content = [...utf8(c.name), ...c.bytes];
    out.push(0x00, ...uleb(content.length), ...content);
  };
  for (const id of SECTION_ORDER) {
    for (const c of spec.customs) if (c.before === id) custom(c);
    const content = sections.get(id);
    if (content) out.push(id, ...uleb(content.length), ...content);
  }
  for (const c of spec.customs) if (c.before === undefined || !SECTION_ORDER.includes(c.before)) custom(c);
  return Uint8Array.from(out);
}
