/**
 * Values of the types generated programs do not keep in locals (f32, f64, v128 and function
 * references), computed inside one expression and turned back into an i32 or i64 there. They put
 * in the instruction stream what a byte-level rewriter can misread: float constants whose raw bytes
 * may look like any opcode (0x03 `loop`, 0x0b `end`), 16-byte vector constants and shuffles,
 * lane indices, two-byte SIMD sub-opcodes, the 0xfc group (saturating truncations,
 * memory.init, data.drop, table.size) and reference instructions.
 *
 * Results stay deterministic: a float computed by arithmetic (possibly a NaN, whose bits the spec
 * leaves open) only reaches an integer through a comparison or a truncation, never through its
 * bits: it is not reinterpreted, stored to memory or put into a vector (only constants and
 * conversions are).
 */
import type { Addr, Expr } from "./program.ts";
import type { Random } from "./random.ts";
import type { Instr, ValType } from "./wasm-module.ts";

type Float = "f32" | "f64";

/** A float-valued tree; `a`/`b` are further float trees, `x` an integer expression. */
export type FloatTree =
  | { readonly fk: "const"; readonly t: Float; readonly bits: bigint }
  | { readonly fk: "convert"; readonly t: Float; readonly op: string; readonly x: Expr }
  | { readonly fk: "un"; readonly t: Float; readonly op: string; readonly a: FloatTree }
  | { readonly fk: "bin"; readonly t: Float; readonly op: string; readonly a: FloatTree; readonly b: FloatTree }
  | { readonly fk: "load"; readonly t: Float; readonly align: number; readonly offset: number; readonly addr: Addr }
  /** f32x4.extract_lane or f64x2.extract_lane. */
  | { readonly fk: "lane"; readonly t: Float; readonly lane: number; readonly v: VectorTree };

/** A v128-valued tree. */
export type VectorTree =
  | { readonly vk: "const"; readonly bytes: readonly number[] }
  | { readonly vk: "splat"; readonly op: string; readonly x: Expr }
  /** f32x4.splat or f64x2.splat of a float, or f32x4/f64x2.replace_lane with one. */
  | { readonly vk: "floatLane"; readonly t: Float; readonly lane?: number; readonly a?: VectorTree; readonly f: FloatTree }
  | { readonly vk: "un"; readonly op: string; readonly a: VectorTree }
  | { readonly vk: "bin"; readonly op: string; readonly a: VectorTree; readonly b: VectorTree }
  | { readonly vk: "bitselect"; readonly a: VectorTree; readonly b: VectorTree; readonly c: VectorTree }
  | { readonly vk: "shuffle"; readonly lanes: readonly number[]; readonly a: VectorTree; readonly b: VectorTree }
  | { readonly vk: "replace"; readonly op: string; readonly lane: number; readonly a: VectorTree; readonly x: Expr }
  | { readonly vk: "load"; readonly op: string; readonly align: number; readonly offset: number; readonly addr: Addr }
  | {
    readonly vk: "loadLane";
    readonly op: string;
    readonly align: number;
    readonly offset: number;
    readonly lane: number;
    readonly addr: Addr;
    readonly a: VectorTree;
  };

/** An integer computed from another type: the `other` expression of program.ts. */
export type OtherTree =
  | { readonly ok: "compare"; readonly op: string; readonly a: FloatTree; readonly b: FloatTree }
  | { readonly ok: "truncate"; readonly op: string; readonly a: FloatTree }
  | { readonly ok: "vector"; readonly op: string; readonly lane?: number; readonly a: VectorTree }
  /** ref.is_null of ref.func f, of ref.null, or of table.get at a slot; or table.size. */
  | { readonly ok: "ref"; readonly form: "func" | "null" | "get" | "size"; readonly f?: number; readonly slot?: Expr };

/** A vector store: v128.store, or one lane of it. */
export interface VectorStore {
  readonly op: string;
  readonly align: number;
  readonly offset: number;
  readonly lane?: number;
  readonly addr: Addr;
  readonly v: VectorTree;
}

/** What generating these trees needs from the program being generated. */
export interface OtherContext {
  readonly r: Random;
  readonly memory: boolean;
  /** Function indices in the table (empty: no table). */
  readonly tableSlots: readonly number[];
  /** Draws an integer expression (a smaller one: these trees count as depth). */
  int(t: ValType): Expr;
  addr(): Addr;
}

const LANES: Record<string, number> = { i8x16: 16, i16x8: 8, i32x4: 4, i64x2: 2 };

function floatTree(c: OtherContext, t: Float, depth: number): FloatTree {
  const r = c.r;
  const kind = depth >= 2
    ? r.weighted({ const: 2, convert: 2, load: 0 })
    : r.weighted({ const: 2, convert: 2, un: 2, bin: 3, load: c.memory ? 1 : 0, lane: 0.7 });
  switch (kind) {
    case "const": {
      // Special values half of the time (NaN, infinities, -0, values beyond the integer range), raw bits otherwise.
      const special32 = [0x7fc00000n, 0xff800000n, 0x80000000n, 0x4f000000n, 0xcf000001n, 0x3f800000n, 0x00000001n];
      const special64 = [0x7ff8000000000000n, 0xfff0000000000000n, 0x8000000000000000n, 0x43e0000000000000n, 0xc1e0000000200000n, 0x3ff0000000000000n];
      const bits = t === "f32"
        ? (r.chance(0.5) ? r.pick(special32) : BigInt(r.next()))
        : r.chance(0.5)
        ? r.pick(special64)
        : (BigInt(r.next()) << 32n) | BigInt(r.next());
      return { fk: "const", t, bits };
    }
    case "convert": {
      const from = r.pick(["i32", "i64"] as const);
      const op = r.chance(0.8) ? `${t}.convert_${from}_${r.pick(["s", "u"])}` : t === "f32" ? "f32.reinterpret_i32" : "f64.reinterpret_i64";
      return { fk: "convert", t, op, x: c.int(op.endsWith("reinterpret_i32") ? "i32" : op.endsWith("reinterpret_i64") ? "i64" : from) };
    }
    case "un":
      if (r.chance(0.2)) {
        return t === "f32"
          ? { fk: "un", t, op: "f32.demote_f64", a: floatTree(c, "f64", depth + 1) }
          : { fk: "un", t, op: "f64.promote_f32", a: floatTree(c, "f32", depth + 1) };
      }
      return { fk: "un", t, op: `${t}.${r.pick(["abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt"])}`, a: floatTree(c, t, depth + 1) };
    case "bin":
      return {
        fk: "bin",
        t,
        op: `${t}.${r.pick(["add", "sub", "mul", "div", "min", "max", "copysign"])}`,
        a: floatTree(c, t, depth + 1),
        b: floatTree(c, t, depth + 1),
      };
    case "load":
      return { fk: "load", t, align: r.between(0, t === "f32" ? 2 : 3), offset: r.pick([0, 4, 8]), addr: c.addr() };
    case "lane":
      return { fk: "lane", t, lane: r.below(t === "f32" ? 4 : 2), v: vectorTree(c, depth + 1) };
  }
}

function vectorTree(c: OtherContext, depth: number): VectorTree {
  const r = c.r;
  const leaf = depth >= 2;
  const kind = r.weighted({
    const: 2,
    splat: 2,
    floatLane: leaf ? 0 : 0.7,
    un: leaf ? 0 : 1,
    bin: leaf ? 0 : 3,
    bitselect: leaf ? 0 : 0.5,
    shuffle: leaf ? 0 : 1,
    replace: leaf ? 0 : 1,
    load: c.memory ? 1 : 0,
    loadLane: c.memory && !leaf ? 1 : 0,
  });
  switch (kind) {
    case "const":
      return { vk: "const", bytes: Array.from({ length: 16 }, () => (r.chance(0.3) ? r.pick([0x03, 0x0b, 0x0c, 0x10, 0xfd, 0xfc]) : r.below(256))) };
    case "splat": {
      const shape = r.pick(["i8x16", "i16x8", "i32x4", "i64x2"]);
      return { vk: "splat", op: `${shape}.splat`, x: c.int(shape === "i64x2" ? "i64" : "i32") };
    }
    case "floatLane": {
      // Only a constant or a conversion goes into a vector, whose bits integer lanes can read: the
      // bits of a NaN made by arithmetic are not fixed by the spec.
      const t = r.pick(["f32", "f64"] as const);
      if (r.chance(0.5)) return { vk: "floatLane", t, f: floatTree(c, t, 2) };
      return { vk: "floatLane", t, lane: r.below(t === "f32" ? 4 : 2), a: vectorTree(c, depth + 1), f: floatTree(c, t, 2) };
    }
    case "un":
      return { vk: "un", op: r.pick(["v128.not", "i8x16.popcnt"]), a: vectorTree(c, depth + 1) };
    case "bin":
      return {
        vk: "bin",
        op: r.pick([
          "v128.and",
          "v128.andnot",
          "v128.or",
          "v128.xor",
          "i8x16.swizzle",
          "i8x16.eq",
          "i32x4.eq",
          "i8x16.add",
          "i8x16.sub",
          "i16x8.add",
          "i16x8.sub",
          "i16x8.mul",
          "i32x4.add",
          "i32x4.sub",
          "i32x4.mul",
          "i32x4.dot_i16x8_s",
          "i64x2.add",
          "i64x2.sub",
          "i64x2.mul",
        ]),
        a: vectorTree(c, depth + 1),
        b: vectorTree(c, depth + 1),
      };
    case "bitselect":
      return { vk: "bitselect", a: vectorTree(c, depth + 1), b: vectorTree(c, depth + 1), c: vectorTree(c, depth + 1) };
    case "shuffle":
      return { vk: "shuffle", lanes: Array.from({ length: 16 }, () => r.below(32)), a: vectorTree(c, depth + 1), b: vectorTree(c, depth + 1) };
    case "replace": {
      const shape = r.pick(["i8x16", "i16x8", "i32x4", "i64x2"]);
      return {
        vk: "replace",
        op: `${shape}.replace_lane`,
        lane: r.below(LANES[shape]!),
        a: vectorTree(c, depth + 1),
        x: c.int(shape === "i64x2" ? "i64" : "i32"),
      };
    }
    case "load": {
      const [op, natural] = r.pick(
        [
          ["v128.load", 4],
          ["v128.load8x8_s", 3],
          ["v128.load16x4_u", 3],
          ["v128.load32x2_s", 3],
          ["v128.load8_splat", 0],
          ["v128.load16_splat", 1],
          ["v128.load32_splat", 2],
          ["v128.load64_splat", 3],
          ["v128.load32_zero", 2],
          ["v128.load64_zero", 3],
        ] as const,
      );
      return { vk: "load", op, align: r.between(0, natural), offset: r.pick([0, 1, 16]), addr: c.addr() };
    }
    case "loadLane": {
      const bits = r.pick([8, 16, 32, 64]);
      return {
        vk: "loadLane",
        op: `v128.load${bits}_lane`,
        align: r.between(0, Math.log2(bits / 8)),
        offset: r.pick([0, 3]),
        lane: r.below(128 / bits),
        addr: c.addr(),
        a: vectorTree(c, depth + 1),
      };
    }
  }
}

/** Draws an integer of type `t` computed through floats, vectors or references. */
export function otherTree(c: OtherContext, t: ValType): OtherTree {
  const r = c.r;
  const kind = r.weighted({ compare: t === "i32" ? 2 : 0, truncate: 3, vector: 3, ref: t === "i32" ? 1 : 0 });
  switch (kind) {
    case "compare": {
      const f = r.pick(["f32", "f64"] as const);
      return { ok: "compare", op: `${f}.${r.pick(["eq", "ne", "lt", "gt", "le", "ge"])}`, a: floatTree(c, f, 0), b: floatTree(c, f, 0) };
    }
    case "truncate": {
      const f = r.pick(["f32", "f64"] as const);
      // Saturating mostly; the plain truncation traps on NaN and out-of-range values.
      const op = r.chance(0.85) ? `${t}.trunc_sat_${f}_${r.pick(["s", "u"])}` : `${t}.trunc_${f}_${r.pick(["s", "u"])}`;
      return { ok: "truncate", op, a: floatTree(c, f, 0) };
    }
    case "vector": {
      if (t === "i64") return { ok: "vector", op: "i64x2.extract_lane", lane: r.below(2), a: vectorTree(c, 0) };
      const op = r.pick([
        "i8x16.extract_lane_s",
        "i8x16.extract_lane_u",
        "i16x8.extract_lane_s",
        "i16x8.extract_lane_u",
        "i32x4.extract_lane",
        "v128.any_true",
        "i8x16.all_true",
        "i32x4.all_true",
        "i8x16.bitmask",
        "i32x4.bitmask",
      ]);
      const shape = op.slice(0, op.indexOf("."));
      return { ok: "vector", op, lane: op.includes("extract_lane") ? r.below(LANES[shape]!) : undefined, a: vectorTree(c, 0) };
    }
    case "ref": {
      const forms = c.tableSlots.length ? (["func", "null", "get", "size"] as const) : (["null"] as const);
      const form = r.pick(forms);
      if (form === "func") return { ok: "ref", form, f: r.pick(c.tableSlots) };
      // A slot past the end now and then: table.get traps there.
      if (form === "get") return { ok: "ref", form, slot: { k: "bin", t: "i32", op: "i32.and", a: c.int("i32"), b: { k: "const", t: "i32", v: 7 } } };
      return { ok: "ref", form };
    }
  }
  throw new Error(`unreachable: ${kind}`);
}

/** Draws a vector store. */
export function vectorStore(c: OtherContext): VectorStore {
  const r = c.r;
  if (r.chance(0.5)) return { op: "v128.store", align: r.between(0, 4), offset: r.pick([0, 8]), addr: c.addr(), v: vectorTree(c, 0) };
  const bits = r.pick([8, 16, 32, 64]);
  return {
    op: `v128.store${bits}_lane`,
    align: r.between(0, Math.log2(bits / 8)),
    offset: r.pick([0, 5]),
    lane: r.below(128 / bits),
    addr: c.addr(),
    v: vectorTree(c, 0),
  };
}

/** What lowering these trees needs from program.ts's lowering. */
export interface OtherLowering {
  emit(op: string, fields?: Omit<Instr, "op">): void;
  expr(e: Expr): void;
  addr(a: Addr): void;
}

function lowerFloat(l: OtherLowering, f: FloatTree): void {
  switch (f.fk) {
    case "const":
      return l.emit(`${f.t}.const`, { value: f.bits });
    case "convert":
      l.expr(f.x);
      return l.emit(f.op);
    case "un":
      lowerFloat(l, f.a);
      return l.emit(f.op);
    case "bin":
      lowerFloat(l, f.a);
      lowerFloat(l, f.b);
      return l.emit(f.op);
    case "load":
      l.addr(f.addr);
      return l.emit(`${f.t}.load`, { align: f.align, offset: f.offset });
    case "lane":
      lowerVector(l, f.v);
      return l.emit(f.t === "f32" ? "f32x4.extract_lane" : "f64x2.extract_lane", { lane: f.lane });
  }
}

function lowerVector(l: OtherLowering, v: VectorTree): void {
  switch (v.vk) {
    case "const":
      return l.emit("v128.const", { bytes: v.bytes });
    case "splat":
      l.expr(v.x);
      return l.emit(v.op);
    case "floatLane": {
      const shape = v.t === "f32" ? "f32x4" : "f64x2";
      if (v.lane === undefined) {
        lowerFloat(l, v.f);
        return l.emit(`${shape}.splat`);
      }
      lowerVector(l, v.a!);
      lowerFloat(l, v.f);
      return l.emit(`${shape}.replace_lane`, { lane: v.lane });
    }
    case "un":
      lowerVector(l, v.a);
      return l.emit(v.op);
    case "bin":
      lowerVector(l, v.a);
      lowerVector(l, v.b);
      return l.emit(v.op);
    case "bitselect":
      lowerVector(l, v.a);
      lowerVector(l, v.b);
      lowerVector(l, v.c);
      return l.emit("v128.bitselect");
    case "shuffle":
      lowerVector(l, v.a);
      lowerVector(l, v.b);
      return l.emit("i8x16.shuffle", { bytes: v.lanes });
    case "replace":
      lowerVector(l, v.a);
      l.expr(v.x);
      return l.emit(v.op, { lane: v.lane });
    case "load":
      l.addr(v.addr);
      return l.emit(v.op, { align: v.align, offset: v.offset });
    case "loadLane":
      l.addr(v.addr);
      lowerVector(l, v.a);
      return l.emit(v.op, { align: v.align, offset: v.offset, lane: v.lane });
  }
}

/** Lowers an `other` expression: leaves its i32 or i64. */
export function lowerOther(l: OtherLowering, o: OtherTree): void {
  switch (o.ok) {
    case "compare":
      lowerFloat(l, o.a);
      lowerFloat(l, o.b);
      return l.emit(o.op);
    case "truncate":
      lowerFloat(l, o.a);
      return l.emit(o.op);
    case "vector":
      lowerVector(l, o.a);
      return l.emit(o.op, o.lane === undefined ? {} : { lane: o.lane });
    case "ref":
      if (o.form === "size") return l.emit("table.size", { index: 0 });
      if (o.form === "func") l.emit("ref.func", { index: o.f! });
      else if (o.form === "null") l.emit("ref.null");
      else {
        l.expr(o.slot!);
        l.emit("table.get", { index: 0 });
      }
      return l.emit("ref.is_null");
  }
}

/** Lowers a vector store. */
export function lowerVectorStore(l: OtherLowering, s: VectorStore): void {
  l.addr(s.addr);
  lowerVector(l, s.v);
  l.emit(s.op, s.lane === undefined ? { align: s.align, offset: s.offset } : { align: s.align, offset: s.offset, lane: s.lane });
}
