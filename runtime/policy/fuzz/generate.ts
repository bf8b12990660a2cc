/**
 * Draws random programs (see program.ts) from a seed: several functions that call each other and
 * themselves, loops nested up to three deep (some with a parameter and a result), blocks, ifs,
 * br, br_if, br_table, early returns, memory loads and stores of every width, memory.fill/copy,
 * memory.grow, globals, i32 and i64 arithmetic, calls through a table, host imports, a start
 * function, custom sections and non-minimal LEB128 immediates; and traps (unreachable, division by
 * zero, signed overflow, out-of-bounds accesses, bad indirect calls) now and then.
 */
import type { Addr, Counters, Expr, FunctionTree, Program, Stmt } from "./program.ts";
import { CALLS_ADDRESS } from "./program.ts";
import { type OtherContext, otherTree, vectorStore } from "./other-types.ts";
import { ARITH, COMPARE, DIVISION, LOADS, STORES, UNARY } from "./instructions.ts";
import { Random } from "./random.ts";
import type { Custom, Export, FuncType, Global, Import, ValType } from "./wasm-module.ts";

/** What the generator needs to know of the budget the modules will be metered with. */
export interface GenerateOptions {
  /** The memory cap `meter.ts` will write (pages): programs grow their memory only below it. */
  readonly capPages: number;
}

interface Signature {
  readonly type: number;
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** A label the generator may branch to: with no value, or with one value of a type. */
interface Label {
  readonly br: boolean;
  readonly value?: ValType;
}

function sameTypes(a: readonly ValType[], b: readonly ValType[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Draws one function: its locals, body and results, within a budget of nodes. */
class FunctionGen {
  readonly locals: ValType[] = [];
  /** Locals random statements may write (not the depth, not loop counters). */
  readonly writable: number[] = [];
  /** How many loops enclose what is being generated. */
  loops = 0;
  /** Nodes left to generate; then only leaves and no more statements. */
  nodes: number;

  constructor(
    readonly g: ProgramGen,
    readonly sig: Signature,
    readonly start: boolean,
  ) {
    this.nodes = g.r.between(10, 90);
    if (start) this.locals.push("i32");
    for (let i = 1; i < sig.params.length; i++) this.writable.push(i);
    for (let i = g.r.between(0, 4); i > 0; i--) this.writable.push(this.newLocal(g.r.pick(["i32", "i64"] as const)));
  }

  get paramCount(): number {
    return this.start ? 0 : this.sig.params.length;
  }
  typeOf(local: number): ValType {
    return local < this.paramCount ? this.sig.params[local]! : this.locals[local - this.paramCount]!;
  }
  newLocal(t: ValType): number {
    this.locals.push(t);
    return this.paramCount + this.locals.length - 1;
  }
  allLocals(t: ValType): number[] {
    const n = this.paramCount + this.locals.length;
    return Array.from({ length: n }, (_, i) => i).filter((i) => this.typeOf(i) === t);
  }
  writableOf(t: ValType): number[] {
    return this.writable.filter((i) => this.typeOf(i) === t);
  }

  value(t: ValType): number | bigint {
    return t === "i32" ? this.g.r.int32() : this.g.r.int64();
  }
  constant(t: ValType): Expr {
    return { k: "const", t, v: this.value(t) };
  }

  leaf(t: ValType): Expr {
    const r = this.g.r;
    const locals = this.allLocals(t);
    const globals = this.g.readableGlobals(t);
    const choice = r.weighted({ const: 3, local: locals.length ? 5 : 0, global: globals.length ? 2 : 0 });
    if (choice === "local") return { k: "local", t, i: r.pick(locals) };
    if (choice === "global") return { k: "global", t, i: r.pick(globals) };
    return this.constant(t);
  }

  addr(depth: number, labels: Label[]): Addr {
    const r = this.g.r;
    const kind = r.weighted({ masked: 30, end: this.start ? 0 : 0.5, wild: this.start ? 0 : 0.2 });
    const e = this.expr("i32", depth + 1, labels);
    if (kind === "masked") return { k: "masked", e, mask: r.pick([0x0f, 0xff, 0x3ff, 0x7fff]) };
    return { k: kind, e };
  }

  expr(t: ValType, depth: number, labels: Label[]): Expr {
    const r = this.g.r;
    if (depth >= 4 || this.nodes <= 0 || r.chance(0.25)) return this.leaf(t);
    this.nodes--;
    const g = this.g;
    const callees = g.callable.filter((s) => s.results.length === 1 && s.results[0] === t);
    const indirect = g.tableSlots.filter((slot) =>
      g.signatures[slot - g.importedFunctions]!.results.length === 1 && g.signatures[slot - g.importedFunctions]!.results[0] === t
    );
    const kind = r.weighted({
      un: 3,
      bin: 6,
      compare: t === "i32" ? 2 : 0,
      division: 1,
      load: g.memory ? 3 : 0,
      select: 1,
      tee: this.writableOf(t).length ? 1 : 0,
      call: callees.length ? 2 : 0,
      callIndirect: indirect.length ? 1 : 0,
      host: g.mix !== undefined && t === "i32" ? 0.5 : 0,
      memSize: g.memory && t === "i32" ? 0.3 : 0,
      memGrow: g.memory && t === "i32" ? 0.5 : 0,
      blockExpr: 1,
      ifExpr: 1,
      other: 1.5,
    });
    const sub = (u: ValType) => this.expr(u, depth + 1, labels);
    switch (kind) {
      case "un": {
        const op = r.pick(UNARY.filter((u) => u.t === t));
        return { k: "un", t, op: op.op, a: sub(op.a) };
      }
      case "bin":
        return { k: "bin", t, op: `${t}.${r.pick(ARITH)}`, a: sub(t), b: sub(t) };
      case "compare": {
        const u = r.pick(["i32", "i64"] as const);
        return { k: "bin", t, op: `${u}.${r.pick(COMPARE)}`, a: sub(u), b: sub(u) };
      }
      case "division": {
        // Mostly an odd divisor (no division by zero); now and then whatever comes, zero included.
        const divisor: Expr = this.start || r.chance(0.8) ? { k: "bin", t, op: `${t}.or`, a: sub(t), b: { k: "const", t, v: t === "i32" ? 1 : 1n } } : sub(t);
        const op = this.start ? r.pick(["div_u", "rem_u"]) : r.pick(DIVISION);
        return { k: "bin", t, op: `${t}.${op}`, a: sub(t), b: divisor };
      }
      case "load": {
        const [op, natural] = r.pick(LOADS[t]);
        return { k: "load", t, op, align: r.between(0, natural), offset: r.pick([0, 0, 1, 4, 8, 63]), addr: this.addr(depth, labels) };
      }
      case "select":
        return { k: "select", t, a: sub(t), b: sub(t), c: sub("i32"), typed: r.chance(0.5) };
      case "tee":
        return { k: "tee", t, i: r.pick(this.writableOf(t)), a: sub(t) };
      case "call": {
        const callee = r.pick(callees);
        const inner = [...labels, { br: false, value: t }];
        return { k: "call", t, f: g.functionIndex(callee), args: callee.params.slice(1).map((p) => this.expr(p, depth + 1, inner)), fallback: this.value(t) };
      }
      case "callIndirect": {
        const slot = r.pick(indirect);
        const callee = g.signatures[slot - g.importedFunctions]!;
        const inner = [...labels, { br: false, value: t }];
        const position = g.tableSlots.indexOf(slot);
        // Mostly the slot of a function of the right type; now and then any slot (a wrong type, a null one, or past the end).
        const slotExpr: Expr = this.start || r.chance(0.85)
          ? { k: "const", t: "i32", v: position }
          : { k: "bin", t: "i32", op: "i32.and", a: this.expr("i32", depth + 1, inner), b: { k: "const", t: "i32", v: 7 } };
        return {
          k: "callIndirect",
          t,
          type: callee.type,
          slot: slotExpr,
          args: callee.params.slice(1).map((p) => this.expr(p, depth + 1, inner)),
          fallback: this.value(t),
        };
      }
      case "host":
        return { k: "host", t, f: g.mix!, a: sub("i32"), b: sub("i32") };
      case "memSize":
        return { k: "memSize", t };
      case "memGrow":
        if (g.unguardedGrow && r.chance(0.5)) return { k: "memGrow", t, delta: sub("i32") };
        // Guarded: the delta is computed inside the guard's `if`.
        return { k: "memGrow", t, delta: this.expr("i32", depth + 1, [...labels, { br: false, value: "i32" }]), limit: g.growLimit };
      case "blockExpr": {
        const inner = [...labels, { br: false, value: t }];
        return { k: "blockExpr", t, body: this.stmts(r.between(0, 3), depth + 1, inner), value: this.expr(t, depth + 1, inner) };
      }
      case "ifExpr": {
        const inner = [...labels, { br: false, value: t }];
        return {
          k: "ifExpr",
          t,
          cond: sub("i32"),
          then: this.stmts(r.between(0, 2), depth + 1, inner),
          thenValue: this.expr(t, depth + 1, inner),
          else: this.stmts(r.between(0, 2), depth + 1, inner),
          elseValue: this.expr(t, depth + 1, inner),
        };
      }
      case "other":
        return { k: "other", t, o: otherTree(this.other(depth, labels), t) };
    }
    return this.leaf(t);
  }

  /** What other-types.ts needs to draw its trees here (they add no labels). */
  other(depth: number, labels: Label[]): OtherContext {
    return {
      r: this.g.r,
      memory: this.g.memory !== undefined,
      tableSlots: this.g.tableSlots,
      int: (t) => this.expr(t, depth + 2, labels),
      addr: () => this.addr(depth + 1, labels),
    };
  }

  /** A condition that holds now and then: (e & 7) == 0 or the like. */
  rareCondition(depth: number, labels: Label[]): Expr {
    const e = this.expr("i32", depth + 1, labels);
    return { k: "un", t: "i32", op: "i32.eqz", a: { k: "bin", t: "i32", op: "i32.and", a: e, b: { k: "const", t: "i32", v: this.g.r.pick([3, 7, 15]) } } };
  }

  stmts(count: number, depth: number, labels: Label[]): Stmt[] {
    const out: Stmt[] = [];
    for (let i = 0; i < count && this.nodes > 0; i++) out.push(this.stmt(depth, labels));
    return out;
  }

  /** Statements inside one more loop (loops nest at most three deep, expressions inside loops included). */
  loopBody(count: number, depth: number, labels: Label[]): Stmt[] {
    this.loops++;
    try {
      return this.stmts(count, depth, labels);
    } finally {
      this.loops--;
    }
  }

  stmt(depth: number, labels: Label[]): Stmt {
    const r = this.g.r;
    const g = this.g;
    this.nodes--;
    const nested = depth < 5;
    const brTargets = labels.map((l, i) => (l.br ? labels.length - 1 - i : -1)).filter((d) => d >= 0);
    const valueTargets = labels.map((l, i) => (l.value ? labels.length - 1 - i : -1)).filter((d) => d >= 0);
    const loops = this.loops < 3;
    const kind = r.weighted({
      set: this.writable.length ? 5 : 0,
      gset: g.writableGlobals().length ? 2 : 0,
      store: g.memory ? 3 : 0,
      drop: 1,
      if: nested ? 3 : 0,
      block: nested ? 1 : 0,
      loop: nested && loops ? 4 : 0,
      valueLoop: nested && loops ? 1 : 0,
      br: brTargets.length ? 0.5 : 0,
      brIf: brTargets.length ? 2 : 0,
      brValue: valueTargets.length ? 1 : 0,
      switch: nested ? 1 : 0,
      return: 0.7,
      trap: this.start ? 0 : 0.4,
      callStmt: g.callable.length ? 2 : 0,
      probe: g.probe !== undefined ? 1.5 : 0,
      fill: g.memory ? 0.5 : 0,
      copy: g.memory ? 0.5 : 0,
      tailCall: g.callable.some((c) => sameTypes(c.results, this.sig.results)) ? 0.7 : 0,
      vstore: g.memory ? 0.5 : 0,
      init: g.passive.length ? 0.3 : 0,
      dataDrop: g.mayDrop ? 0.15 : 0,
    });
    const e = (t: ValType) => this.expr(t, depth + 1, labels);
    switch (kind) {
      case "set": {
        const i = r.pick(this.writable);
        return { k: "set", i, v: e(this.typeOf(i)) };
      }
      case "gset": {
        const i = r.pick(g.writableGlobals());
        return { k: "gset", i, v: e(g.globalType(i)) };
      }
      case "store": {
        const t = r.pick(["i32", "i64"] as const);
        const [op, natural] = r.pick(STORES[t]);
        return { k: "store", op, align: r.between(0, natural), offset: r.pick([0, 0, 2, 8, 40]), addr: this.addr(depth, labels), v: e(t) };
      }
      case "drop":
        return { k: "drop", v: e(r.pick(["i32", "i64"] as const)) };
      case "if": {
        const inner = [...labels, { br: true }];
        return {
          k: "if",
          cond: e("i32"),
          then: this.stmts(r.between(1, 4), depth + 1, inner),
          else: r.chance(0.5) ? this.stmts(r.between(1, 3), depth + 1, inner) : [],
          typed: r.chance(0.2),
        };
      }
      case "block":
        return { k: "block", body: this.stmts(r.between(1, 4), depth + 1, [...labels, { br: true }]), typed: r.chance(0.3) };
      case "loop": {
        const counter = this.newLocal("i32");
        // The trip count is computed inside the loop (at the top of each iteration), so with its
        // labels; but it may not continue the loop (that would skip the test that ends it).
        const inner = [...labels, { br: true }, { br: true }];
        const trips: Expr = r.chance(0.5)
          ? { k: "const", t: "i32", v: r.between(0, 7) }
          : this.expr("i32", depth + 1, [...labels, { br: true }, { br: false }]);
        return { k: "loop", counter, trips, body: this.loopBody(r.between(1, 5), depth + 1, inner) };
      }
      case "valueLoop": {
        const counter = this.newLocal("i32");
        const param = this.newLocal("i32");
        const result = this.newLocal("i32");
        this.writable.push(result);
        // The loop's own label takes a value (its parameter), so its body may only branch past it.
        const inner = [...labels, { br: false }];
        const init = e("i32");
        const body = this.loopBody(r.between(0, 4), depth + 1, inner);
        const next: Expr = {
          k: "bin",
          t: "i32",
          op: r.pick(["i32.add", "i32.xor", "i32.mul"]),
          a: { k: "local", t: "i32", i: param },
          b: this.expr("i32", depth + 1, inner),
        };
        const trips: Expr = r.chance(0.5) ? { k: "const", t: "i32", v: r.between(0, 7) } : this.expr("i32", depth + 1, inner);
        return { k: "valueLoop", type: g.loopType, counter, param, result, trips, init, body, next };
      }
      case "br":
        return { k: "br", depth: r.pick(brTargets) };
      case "brIf":
        return { k: "brIf", depth: r.pick(brTargets), cond: r.chance(0.5) ? this.rareCondition(depth, labels) : e("i32") };
      case "brValue": {
        const d = r.pick(valueTargets);
        return { k: "brValue", depth: d, value: e(labels[labels.length - 1 - d]!.value!), cond: e("i32") };
      }
      case "switch": {
        const cases = r.between(1, 4);
        // At the br_table: the case blocks (0 .. cases-1), the switch's end (cases), then the labels outside.
        const targets = [...Array.from({ length: cases + 1 }, (_, i) => i), ...brTargets.map((d) => d + cases + 1)];
        const labelsAt = (i: number): Label[] => [...labels, { br: true }, ...Array.from({ length: cases - 1 - i }, () => ({ br: true }))];
        // The index is computed inside all the switch's blocks.
        const index = this.expr("i32", depth + 1, labelsAt(-1));
        return {
          k: "switch",
          index: r.chance(0.6) ? { k: "bin", t: "i32", op: "i32.and", a: index, b: { k: "const", t: "i32", v: 7 } } : index,
          labels: Array.from({ length: r.between(0, 6) }, () => r.pick(targets)),
          fallback: r.pick(targets),
          cases: Array.from({ length: cases }, (_, i) => this.stmts(r.between(0, 3), depth + 1, labelsAt(i))),
          leave: Array.from({ length: cases }, () => r.chance(0.6)),
        };
      }
      case "return": {
        if (r.chance(0.3)) return { k: "return", values: this.sig.results.map((t) => e(t)) };
        const values = this.sig.results.map((t) => this.expr(t, depth + 1, [...labels, { br: true }]));
        return { k: "if", cond: this.rareCondition(depth, labels), then: [{ k: "return", values }], else: [], typed: false };
      }
      case "trap":
        return { k: "trap", cond: this.rareCondition(depth, labels) };
      case "callStmt": {
        const callee = r.pick(g.callable);
        const inner = [...labels, { br: true }];
        const into = callee.results.map((t) => (r.chance(0.7) && this.writableOf(t).length ? r.pick(this.writableOf(t)) : null));
        return { k: "callStmt", f: g.functionIndex(callee), args: callee.params.slice(1).map((p) => this.expr(p, depth + 1, inner)), into };
      }
      case "probe":
        return { k: "probe", v: e("i32") };
      case "fill":
        return { k: "fill", dst: e("i32"), v: e("i32"), len: e("i32") };
      case "copy":
        return { k: "copy", dst: e("i32"), src: e("i32"), len: e("i32") };
      case "vstore":
        return { k: "vstore", s: vectorStore(this.other(depth, labels)) };
      case "tailCall": {
        const callee = r.pick(g.callable.filter((c) => sameTypes(c.results, this.sig.results)));
        const f = g.functionIndex(callee);
        const args = callee.params.slice(1).map((p) => this.expr(p, depth + 1, [...labels, { br: true }]));
        const slot = g.tableSlots.indexOf(f);
        return { k: "tailCall", f, args, indirect: slot >= 0 && r.chance(0.4) ? { type: callee.type, slot } : undefined };
      }
      case "init":
        return { k: "init", segment: r.pick(g.passive), dst: e("i32"), src: e("i32"), len: e("i32") };
      case "dataDrop":
        return { k: "dataDrop", segment: r.pick(g.passive) };
    }
    return { k: "drop", v: e("i32") };
  }

  build(): FunctionTree {
    const r = this.g.r;
    const labels: Label[] = [{ br: false }];
    const body = this.stmts(r.between(1, 8), 0, labels);
    const returns = this.sig.results.map((t) => this.expr(t, 1, labels));
    const pad = r.chance(0.2) ? r.between(1, 4) : 0;
    return {
      type: this.sig.type,
      params: this.start ? [] : this.sig.params,
      results: this.sig.results,
      locals: this.locals,
      body,
      returns,
      start: this.start,
      pad,
    };
  }
}

/** Draws a program: imports, memory, counters, globals, signatures, table, data, then the functions. */
class ProgramGen {
  readonly types: FuncType[] = [];
  readonly imports: Import[] = [];
  readonly globals: Global[] = [];
  readonly signatures: Signature[] = [];
  /** Functions other functions may call: every defined one but the start function. */
  callable: Signature[] = [];
  /** Function indices in table slots 0, 1, ... */
  tableSlots: number[] = [];
  importedFunctions = 0;
  importedGlobals = 0;
  probe?: number;
  mix?: number;
  memory?: { min: number; max?: number };
  counters!: Counters;
  /** Global index to its type, for every global (imported first). */
  readonly globalTypes: ValType[] = [];
  readonly programGlobals: number[] = [];
  readonly loopType: number;
  readonly voidType: number;
  growLimit = 0;
  unguardedGrow = false;
  readonly data: { offset?: number; bytes: Uint8Array }[] = [];
  /** Indices of the passive data segments (for memory.init and data.drop). */
  readonly passive: number[] = [];
  /** Whether functions may drop data segments (in few modules: the checker cannot reuse their instances). */
  mayDrop = false;

  constructor(
    readonly r: Random,
    readonly options: GenerateOptions,
  ) {
    this.voidType = this.typeIndex([], []);
    this.loopType = this.typeIndex(["i32"], ["i32"]);
  }

  typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const found = this.types.findIndex((t) => sameTypes(t.params, params) && sameTypes(t.results, results));
    if (found >= 0) return found;
    this.types.push({ params, results });
    return this.types.length - 1;
  }
  functionIndex(sig: Signature): number {
    return this.importedFunctions + this.signatures.indexOf(sig);
  }
  readableGlobals(t: ValType): number[] {
    return [...Array.from({ length: this.importedGlobals }, (_, i) => i), ...this.programGlobals].filter((i) => this.globalTypes[i] === t);
  }
  writableGlobals(): number[] {
    return this.programGlobals.filter((i) => this.globals[i - this.importedGlobals]!.mutable);
  }
  globalType(i: number): ValType {
    return this.globalTypes[i]!;
  }
  addGlobal(global: Global): number {
    this.globals.push(global);
    this.globalTypes.push(global.type);
    return this.globalTypes.length - 1;
  }

  program(): Program {
    const r = this.r;
    // Imports: the probe, a pure host function, an immutable global, a table: each now and then.
    if (r.chance(0.7)) {
      this.probe = this.importedFunctions++;
      this.imports.push({ module: "host", name: "probe", kind: "func", type: this.typeIndex(["i32", "i64"], []) });
    }
    if (r.chance(0.3)) {
      this.mix = this.importedFunctions++;
      this.imports.push({ module: "host", name: "mix", kind: "func", type: this.typeIndex(["i32", "i32"], ["i32"]) });
    }
    if (r.chance(0.3)) {
      const type = r.pick(["i32", "i64"] as const);
      this.imports.push({ module: "host", name: `seed_${type}`, kind: "global", type });
      this.globalTypes.push(type);
      this.importedGlobals++;
    }
    const importTable = r.chance(0.15);

    // Memory, counters and globals.
    const cap = this.options.capPages;
    if (r.chance(0.85)) {
      const min = r.between(1, Math.min(2, cap));
      const maxKind = r.weighted({ none: 3, within: 5, beyond: 2 });
      const max = maxKind === "none" ? undefined : maxKind === "within" ? Math.min(cap, min + r.between(0, 3)) : cap + r.between(1, 1000);
      this.memory = { min, max };
      this.unguardedGrow = max !== undefined && max <= cap;
      this.growLimit = Math.min(cap, min + 3);
    }
    const calls = r.between(1, 24);
    if (this.memory && r.chance(0.5)) this.counters = { k: "memory" };
    else {this.counters = {
        k: "global",
        steps: this.addGlobal({ type: "i64", mutable: true, init: 0n }),
        calls: this.addGlobal({ type: "i32", mutable: true, init: calls }),
      };}
    for (let i = r.between(0, 4); i > 0; i--) {
      const type = r.pick(["i32", "i64"] as const);
      this.programGlobals.push(this.addGlobal({ type, mutable: r.chance(0.8), init: type === "i32" ? r.int32() : r.int64() }));
    }

    // Signatures first (bodies call each other), then bodies.
    const count = r.between(1, 5);
    for (let i = 0; i < count; i++) {
      const params: ValType[] = ["i32", ...Array.from({ length: r.between(0, 2) }, () => r.pick(["i32", "i64"] as const))];
      const results: ValType[] = Array.from({ length: Number(r.weighted({ 0: 2, 1: 7, 2: 1 })) }, () => r.pick(["i32", "i64"] as const));
      this.signatures.push({ type: this.typeIndex(params, results), params, results });
    }
    this.callable = [...this.signatures];
    const hasStart = r.chance(0.2);
    if (hasStart) this.signatures.push({ type: this.voidType, params: [], results: [] });
    const hasTable = importTable || r.chance(0.4);
    if (hasTable) this.tableSlots = r.shuffle(this.callable.map((s) => this.functionIndex(s)));
    const tableSize = this.tableSlots.length + 2;
    if (importTable) this.imports.push({ module: "host", name: "table", kind: "table", min: tableSize });

    const data = this.data;
    if (this.memory) {
      if (this.counters.k === "memory") data.push({ offset: CALLS_ADDRESS, bytes: Uint8Array.of(calls, 0, 0, 0) });
      for (let i = r.between(0, 3); i > 0; i--) {
        data.push({
          offset: r.between(16, 4000),
          bytes: Uint8Array.from({ length: r.between(1, 24) }, () => r.below(256)),
        });
      }
      for (let i = Number(r.weighted({ 0: 2, 1: 2, 2: 1 })); i > 0; i--) {
        this.passive.push(data.length);
        data.push({ bytes: Uint8Array.from({ length: r.between(0, 20) }, () => r.below(256)) });
      }
      this.data.splice(0, this.data.length, ...r.shuffle(this.data));
      this.passive.splice(0, this.passive.length, ...this.data.flatMap((d, i) => (d.offset === undefined ? [i] : [])));
      this.mayDrop = this.passive.length > 0 && r.chance(0.3);
    }

    const functions = this.signatures.map((sig, i) => new FunctionGen(this, sig, hasStart && i === this.signatures.length - 1).build());

    const exports: Export[] = this.callable.map((s, i) => ({ name: `f${i}`, kind: "func", index: this.functionIndex(s) }));
    if (this.memory) exports.push({ name: "memory", kind: "memory", index: 0 });
    if (this.counters.k === "global") {
      exports.push({ name: "steps", kind: "global", index: this.counters.steps }, { name: "calls", kind: "global", index: this.counters.calls });
    }
    for (const g of this.programGlobals) exports.push({ name: `g${g}`, kind: "global", index: g });

    const customs: Custom[] = Array.from({ length: Number(r.weighted({ 0: 6, 1: 3, 2: 1 })) }, () => ({
      name: r.pick(["fuzz", "portico.note", ""]),
      bytes: Uint8Array.from({ length: r.between(0, 12) }, () => r.below(256)),
      before: r.chance(0.2) ? undefined : r.between(1, 11),
    }));

    return {
      types: this.types,
      imports: this.imports,
      probe: this.probe,
      functions,
      table: hasTable && !importTable ? { min: tableSize } : undefined,
      memory: this.memory,
      globals: this.globals,
      exports,
      elements: hasTable ? [{ offset: 0, functions: this.tableSlots }] : [],
      data,
      customs,
      counters: this.counters,
      importedFunctions: this.importedFunctions,
    };
  }
}

/** The program drawn from `seed`: the same seed always gives the same program. */
export function generateProgram(seed: number, options: GenerateOptions): Program {
  return new ProgramGen(new Random(seed), options).program();
}
