/**
 * The programs the metering fuzzer generates, as a tree (expressions and statements), and their
 * lowering to a module. Every program terminates: loops run at most eight times per entry (a
 * counter local the body cannot write), and every call is guarded by a depth parameter passed
 * down minus one and by a count of calls left that the host sets before each call.
 *
 * Every program also keeps its own step count, independently of the rewriter: one more at each
 * function entry and at the top of each loop iteration, exactly where `meter.ts` promises to
 * spend fuel. The count lives in the exported i64 global `steps`, or in memory bytes 0-7 when the
 * program keeps its counters in memory (calls left in bytes 8-11); ordinary loads and stores
 * address bytes 16 and up, so they never touch the counters.
 */
import { lowerOther, lowerVectorStore, type OtherTree, type VectorStore } from "./other-types.ts";
import type { BlockType, Custom, Export, FuncType, Global, Import, Instr, ModuleSpec, ValType } from "./wasm-module.ts";

/** An address: 16 + (e & mask), or near the end of memory (may run past it), or always out of bounds. */
export type Addr = { readonly k: "masked"; readonly e: Expr; readonly mask: number } | { readonly k: "end"; readonly e: Expr } | {
  readonly k: "wild";
  readonly e: Expr;
};

/** An expression: leaves one value of its type on the stack. */
export type Expr =
  | { readonly k: "const"; readonly t: ValType; readonly v: number | bigint }
  | { readonly k: "local"; readonly t: ValType; readonly i: number }
  | { readonly k: "global"; readonly t: ValType; readonly i: number }
  | { readonly k: "un"; readonly t: ValType; readonly op: string; readonly a: Expr }
  | { readonly k: "bin"; readonly t: ValType; readonly op: string; readonly a: Expr; readonly b: Expr }
  | { readonly k: "load"; readonly t: ValType; readonly op: string; readonly offset: number; readonly align: number; readonly addr: Addr }
  | { readonly k: "select"; readonly t: ValType; readonly a: Expr; readonly b: Expr; readonly c: Expr; readonly typed: boolean }
  | { readonly k: "tee"; readonly t: ValType; readonly i: number; readonly a: Expr }
  | { readonly k: "call"; readonly t: ValType; readonly f: number; readonly args: readonly Expr[]; readonly fallback: number | bigint }
  | {
    readonly k: "callIndirect";
    readonly t: ValType;
    readonly type: number;
    readonly slot: Expr;
    readonly args: readonly Expr[];
    readonly fallback: number | bigint;
  }
  | { readonly k: "host"; readonly t: ValType; readonly f: number; readonly a: Expr; readonly b: Expr }
  | { readonly k: "memSize"; readonly t: ValType }
  /** memory.grow by 0 or 1 page; with a limit, only while memory is smaller than `limit` pages (else -1). */
  | { readonly k: "memGrow"; readonly t: ValType; readonly delta: Expr; readonly limit?: number }
  | { readonly k: "blockExpr"; readonly t: ValType; readonly body: Stmt[]; readonly value: Expr }
  | {
    readonly k: "ifExpr";
    readonly t: ValType;
    readonly cond: Expr;
    readonly then: Stmt[];
    readonly thenValue: Expr;
    readonly else: Stmt[];
    readonly elseValue: Expr;
  }
  /** Computed through floats, vectors or references (other-types.ts). */
  | { readonly k: "other"; readonly t: ValType; readonly o: OtherTree };

/** A statement: leaves the stack as it found it (or ends the block: br, return, unreachable). */
export type Stmt =
  | { readonly k: "set"; readonly i: number; readonly v: Expr }
  | { readonly k: "gset"; readonly i: number; readonly v: Expr }
  | { readonly k: "store"; readonly op: string; readonly offset: number; readonly align: number; readonly addr: Addr; readonly v: Expr }
  | { readonly k: "drop"; readonly v: Expr }
  /** `typed`: the block type is written as the index of the type () -> (). */
  | { readonly k: "if"; readonly cond: Expr; readonly then: Stmt[]; readonly else: Stmt[]; readonly typed: boolean }
  | { readonly k: "block"; readonly body: Stmt[]; readonly typed: boolean }
  /** At most eight iterations: `counter` goes up at the top of each, and the loop leaves once it passes `trips & 7`. */
  | { readonly k: "loop"; readonly counter: number; readonly trips: Expr; readonly body: Stmt[] }
  /** A loop of type [i32] -> [i32] (by type index): the parameter goes to `param`, `next` is the next one, the result goes to `result`. */
  | {
    readonly k: "valueLoop";
    readonly type: number;
    readonly counter: number;
    readonly param: number;
    readonly result: number;
    readonly trips: Expr;
    readonly init: Expr;
    readonly body: Stmt[];
    readonly next: Expr;
  }
  | { readonly k: "br"; readonly depth: number }
  | { readonly k: "brIf"; readonly depth: number; readonly cond: Expr }
  /** br_if with a value to a block or if that has one result: value, condition, br_if, drop. */
  | { readonly k: "brValue"; readonly depth: number; readonly value: Expr; readonly cond: Expr }
  /** Blocks nested around a br_table; case i runs when the table jumps to the end of block i, then leaves the switch if `leave[i]`. */
  | {
    readonly k: "switch";
    readonly index: Expr;
    readonly labels: readonly number[];
    readonly fallback: number;
    readonly cases: Stmt[][];
    readonly leave: readonly boolean[];
  }
  | { readonly k: "return"; readonly values: readonly Expr[] }
  | { readonly k: "trap"; readonly cond: Expr }
  /** A guarded tail call (return_call, or return_call_indirect through table slot `slot`) of a function with the caller's results. */
  | { readonly k: "tailCall"; readonly f: number; readonly args: readonly Expr[]; readonly indirect?: { readonly type: number; readonly slot: number } }
  /** A guarded call whose results go to locals (or are dropped: null). */
  | { readonly k: "callStmt"; readonly f: number; readonly args: readonly Expr[]; readonly into: readonly (number | null)[] }
  | { readonly k: "probe"; readonly v: Expr }
  | { readonly k: "fill"; readonly dst: Expr; readonly v: Expr; readonly len: Expr }
  | { readonly k: "copy"; readonly dst: Expr; readonly src: Expr; readonly len: Expr }
  | { readonly k: "vstore"; readonly s: VectorStore }
  /** memory.init from a passive data segment: to 16 + (dst & 0x3ff), from (src & 15), (len & 15) bytes; traps past the segment's end. */
  | { readonly k: "init"; readonly segment: number; readonly dst: Expr; readonly src: Expr; readonly len: Expr }
  | { readonly k: "dataDrop"; readonly segment: number };

/** Where a program keeps its step count and its calls left. */
export type Counters = { readonly k: "global"; readonly steps: number; readonly calls: number } | { readonly k: "memory" };

/** A function of a program. Local 0 is the depth: the first parameter, or (for the start function) a local set to 2. */
export interface FunctionTree {
  readonly type: number;
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  readonly locals: readonly ValType[];
  readonly body: Stmt[];
  readonly returns: readonly Expr[];
  /** The start function: no parameters, its depth is a local it sets first. */
  readonly start: boolean;
  /** Write this many extra bytes in its LEB128 immediates. */
  readonly pad: number;
}

/** A generated program: the module's layout and its functions as trees. */
export interface Program {
  readonly types: readonly FuncType[];
  readonly imports: readonly Import[];
  /** Function index of the imported `host.probe(value: i32, steps: i64)`, if imported. */
  readonly probe?: number;
  readonly functions: FunctionTree[];
  readonly table?: { readonly min: number };
  readonly memory?: { readonly min: number; readonly max?: number };
  readonly globals: readonly Global[];
  readonly exports: readonly Export[];
  readonly elements: ModuleSpec["elements"];
  readonly data: ModuleSpec["data"];
  readonly customs: readonly Custom[];
  readonly counters: Counters;
  /** How many functions are imported (defined function i has index `importedFunctions + i`). */
  readonly importedFunctions: number;
}

/** Where a program that keeps its counters in memory keeps its step count (an i64). */
export const STEPS_ADDRESS = 0;
/** Where a program that keeps its counters in memory keeps its calls left (an i32). */
export const CALLS_ADDRESS = 8;
/** Ordinary loads and stores start here. */
export const FIRST_FREE_ADDRESS = 16;

/** Turns one function's tree into instructions, with the program's counters and imports. */
class Lowering {
  readonly out: Instr[] = [];
  constructor(
    readonly program: Program,
    readonly pad: number,
  ) {}

  emit(op: string, fields: Omit<Instr, "op"> = {}): void {
    const padded = "index" in fields || "value" in fields || "offset" in fields || "labels" in fields || fields.block?.kind === "index";
    this.out.push(this.pad && padded ? { op, ...fields, pad: this.pad } : { op, ...fields });
  }
  i32(v: number): void {
    this.emit("i32.const", { value: v | 0 });
  }
  block(op: "block" | "loop" | "if", block: BlockType): void {
    this.emit(op, { block });
  }

  steps(): void {
    const c = this.program.counters;
    if (c.k === "global") {
      this.emit("global.get", { index: c.steps });
      this.emit("i64.const", { value: 1n });
      this.emit("i64.add");
      this.emit("global.set", { index: c.steps });
    } else {
      this.i32(STEPS_ADDRESS);
      this.i32(STEPS_ADDRESS);
      this.emit("i64.load", { align: 3, offset: 0 });
      this.emit("i64.const", { value: 1n });
      this.emit("i64.add");
      this.emit("i64.store", { align: 3, offset: 0 });
    }
  }
  readSteps(): void {
    const c = this.program.counters;
    if (c.k === "global") this.emit("global.get", { index: c.steps });
    else {
      this.i32(STEPS_ADDRESS);
      this.emit("i64.load", { align: 3, offset: 0 });
    }
  }
  readCalls(): void {
    const c = this.program.counters;
    if (c.k === "global") this.emit("global.get", { index: c.calls });
    else {
      this.i32(CALLS_ADDRESS);
      this.emit("i32.load", { align: 2, offset: 0 });
    }
  }
  /** Leaves 1 when a call is allowed: depth > 0 and calls left > 0. */
  guard(): void {
    this.emit("local.get", { index: 0 });
    this.i32(0);
    this.emit("i32.gt_s");
    this.readCalls();
    this.i32(0);
    this.emit("i32.gt_s");
    this.emit("i32.and");
  }
  /** Spends one call and pushes depth - 1, the callee's first argument. */
  enterCall(): void {
    const c = this.program.counters;
    if (c.k === "global") {
      this.emit("global.get", { index: c.calls });
      this.i32(1);
      this.emit("i32.sub");
      this.emit("global.set", { index: c.calls });
    } else {
      this.i32(CALLS_ADDRESS);
      this.readCalls();
      this.i32(1);
      this.emit("i32.sub");
      this.emit("i32.store", { align: 2, offset: 0 });
    }
    this.emit("local.get", { index: 0 });
    this.i32(1);
    this.emit("i32.sub");
  }
  constant(t: ValType, v: number | bigint): void {
    if (t === "i32") this.i32(Number(v));
    else this.emit("i64.const", { value: BigInt(v) });
  }

  addr(a: Addr): void {
    if (a.k === "masked") {
      this.expr(a.e);
      this.i32(a.mask);
      this.emit("i32.and");
      this.i32(FIRST_FREE_ADDRESS);
      this.emit("i32.add");
    } else if (a.k === "end") {
      this.emit("memory.size");
      this.i32(16);
      this.emit("i32.shl");
      this.expr(a.e);
      this.i32(15);
      this.emit("i32.and");
      this.emit("i32.sub");
    } else {
      this.expr(a.e);
      this.i32(0x40000000);
      this.emit("i32.or");
    }
  }

  expr(e: Expr): void {
    switch (e.k) {
      case "const":
        return this.constant(e.t, e.v);
      case "local":
        return this.emit("local.get", { index: e.i });
      case "global":
        return this.emit("global.get", { index: e.i });
      case "un":
        this.expr(e.a);
        return this.emit(e.op);
      case "bin":
        this.expr(e.a);
        this.expr(e.b);
        return this.emit(e.op);
      case "load":
        this.addr(e.addr);
        return this.emit(e.op, { align: e.align, offset: e.offset });
      case "select":
        this.expr(e.a);
        this.expr(e.b);
        this.expr(e.c);
        return e.typed ? this.emit("select_t", { typed: e.t }) : this.emit("select");
      case "tee":
        this.expr(e.a);
        return this.emit("local.tee", { index: e.i });
      case "call":
      case "callIndirect":
        this.guard();
        this.block("if", { kind: "value", type: e.t });
        this.enterCall();
        for (const a of e.args) this.expr(a);
        if (e.k === "call") this.emit("call", { index: e.f });
        else {
          this.expr(e.slot);
          this.emit("call_indirect", { index: e.type });
        }
        this.emit("else");
        this.constant(e.t, e.fallback);
        return this.emit("end");
      case "host":
        this.expr(e.a);
        this.expr(e.b);
        return this.emit("call", { index: e.f });
      case "memSize":
        return this.emit("memory.size");
      case "memGrow":
        if (e.limit === undefined) {
          this.expr(e.delta);
          this.i32(1);
          this.emit("i32.and");
          return this.emit("memory.grow");
        }
        this.emit("memory.size");
        this.i32(e.limit);
        this.emit("i32.lt_u");
        this.block("if", { kind: "value", type: "i32" });
        this.expr(e.delta);
        this.i32(1);
        this.emit("i32.and");
        this.emit("memory.grow");
        this.emit("else");
        this.i32(-1);
        return this.emit("end");
      case "blockExpr":
        this.block("block", { kind: "value", type: e.t });
        this.stmts(e.body);
        this.expr(e.value);
        return this.emit("end");
      case "ifExpr":
        this.expr(e.cond);
        this.block("if", { kind: "value", type: e.t });
        this.stmts(e.then);
        this.expr(e.thenValue);
        this.emit("else");
        this.stmts(e.else);
        this.expr(e.elseValue);
        return this.emit("end");
      case "other":
        return lowerOther(this, e.o);
    }
  }

  stmts(list: readonly Stmt[]): void {
    for (const s of list) this.stmt(s);
  }

  stmt(s: Stmt): void {
    switch (s.k) {
      case "set":
        this.expr(s.v);
        return this.emit("local.set", { index: s.i });
      case "gset":
        this.expr(s.v);
        return this.emit("global.set", { index: s.i });
      case "store":
        this.addr(s.addr);
        this.expr(s.v);
        return this.emit(s.op, { align: s.align, offset: s.offset });
      case "drop":
        this.expr(s.v);
        return this.emit("drop");
      case "if":
        this.expr(s.cond);
        this.block("if", s.typed ? { kind: "index", index: this.voidType() } : { kind: "empty" });
        this.stmts(s.then);
        if (s.else.length) {
          this.emit("else");
          this.stmts(s.else);
        }
        return this.emit("end");
      case "block":
        this.block("block", s.typed ? { kind: "index", index: this.voidType() } : { kind: "empty" });
        this.stmts(s.body);
        return this.emit("end");
      case "loop":
        this.i32(0);
        this.emit("local.set", { index: s.counter });
        this.block("block", { kind: "empty" });
        this.block("loop", { kind: "empty" });
        this.steps();
        this.emit("local.get", { index: s.counter });
        this.i32(1);
        this.emit("i32.add");
        this.emit("local.tee", { index: s.counter });
        this.expr(s.trips);
        this.i32(7);
        this.emit("i32.and");
        this.emit("i32.gt_u");
        this.emit("br_if", { index: 1 });
        this.stmts(s.body);
        this.emit("br", { index: 0 });
        this.emit("end");
        return this.emit("end");
      case "valueLoop":
        this.i32(0);
        this.emit("local.set", { index: s.counter });
        this.expr(s.init);
        this.block("loop", { kind: "index", index: s.type });
        this.emit("local.set", { index: s.param });
        this.steps();
        this.emit("local.get", { index: s.counter });
        this.i32(1);
        this.emit("i32.add");
        this.emit("local.set", { index: s.counter });
        this.stmts(s.body);
        this.expr(s.next);
        this.emit("local.get", { index: s.counter });
        this.expr(s.trips);
        this.i32(7);
        this.emit("i32.and");
        this.emit("i32.lt_u");
        this.emit("br_if", { index: 0 });
        this.emit("end");
        return this.emit("local.set", { index: s.result });
      case "br":
        return this.emit("br", { index: s.depth });
      case "brIf":
        this.expr(s.cond);
        return this.emit("br_if", { index: s.depth });
      case "brValue":
        this.expr(s.value);
        this.expr(s.cond);
        this.emit("br_if", { index: s.depth });
        return this.emit("drop");
      case "switch": {
        const k = s.cases.length;
        this.block("block", { kind: "empty" });
        for (let i = 0; i < k; i++) this.block("block", { kind: "empty" });
        this.expr(s.index);
        this.emit("br_table", { labels: s.labels, fallback: s.fallback });
        for (let i = 0; i < k; i++) {
          this.emit("end");
          this.stmts(s.cases[i]!);
          if (s.leave[i]) this.emit("br", { index: k - 1 - i });
        }
        return this.emit("end");
      }
      case "return":
        for (const v of s.values) this.expr(v);
        return this.emit("return");
      case "trap":
        this.expr(s.cond);
        this.block("if", { kind: "empty" });
        this.emit("unreachable");
        return this.emit("end");
      case "callStmt":
        this.guard();
        this.block("if", { kind: "empty" });
        this.enterCall();
        for (const a of s.args) this.expr(a);
        this.emit("call", { index: s.f });
        for (const into of [...s.into].reverse()) {
          if (into === null) this.emit("drop");
          else this.emit("local.set", { index: into });
        }
        return this.emit("end");
      case "tailCall":
        this.guard();
        this.block("if", { kind: "empty" });
        this.enterCall();
        for (const a of s.args) this.expr(a);
        if (s.indirect) {
          this.i32(s.indirect.slot);
          this.emit("return_call_indirect", { index: s.indirect.type });
        } else this.emit("return_call", { index: s.f });
        return this.emit("end");
      case "probe":
        // The value first: computing it may take steps, and the probe reports the steps at the call.
        this.expr(s.v);
        this.readSteps();
        return this.emit("call", { index: this.program.probe! });
      case "fill":
      case "copy":
        this.expr(s.dst);
        this.i32(0x3ff);
        this.emit("i32.and");
        this.i32(FIRST_FREE_ADDRESS);
        this.emit("i32.add");
        if (s.k === "fill") this.expr(s.v);
        else {
          this.expr(s.src);
          this.i32(0x3ff);
          this.emit("i32.and");
          this.i32(FIRST_FREE_ADDRESS);
          this.emit("i32.add");
        }
        this.expr(s.len);
        this.i32(0xff);
        this.emit("i32.and");
        return this.emit(s.k === "fill" ? "memory.fill" : "memory.copy");
      case "vstore":
        return lowerVectorStore(this, s.s);
      case "init":
        this.expr(s.dst);
        this.i32(0x3ff);
        this.emit("i32.and");
        this.i32(FIRST_FREE_ADDRESS);
        this.emit("i32.add");
        this.expr(s.src);
        this.i32(15);
        this.emit("i32.and");
        this.expr(s.len);
        this.i32(15);
        this.emit("i32.and");
        return this.emit("memory.init", { index: s.segment });
      case "dataDrop":
        return this.emit("data.drop", { index: s.segment });
    }
  }

  voidType(): number {
    const index = this.program.types.findIndex((t) => t.params.length === 0 && t.results.length === 0);
    if (index < 0) throw new Error("the program declares no () -> () type");
    return index;
  }
}

/** The instructions of one function's body (without its final `end`). */
export function lowerFunction(program: Program, f: FunctionTree): Instr[] {
  const l = new Lowering(program, f.pad);
  l.steps();
  if (f.start) {
    l.i32(2);
    l.emit("local.set", { index: 0 });
  }
  l.stmts(f.body);
  for (const r of f.returns) l.expr(r);
  return l.out;
}

/** The module a program describes. */
export function lowerProgram(program: Program): ModuleSpec {
  const start = program.functions.findIndex((f) => f.start);
  return {
    types: program.types,
    imports: program.imports,
    functions: program.functions.map((f) => ({ type: f.type, locals: f.locals, body: lowerFunction(program, f), pad: f.pad })),
    table: program.table,
    memory: program.memory,
    globals: program.globals,
    exports: program.exports,
    start: start >= 0 ? program.importedFunctions + start : undefined,
    elements: program.elements,
    data: program.data,
    customs: program.customs,
  };
}
