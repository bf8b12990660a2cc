/**
 * Budgets for policy modules, enforced the same way on every runtime: the module is rewritten once,
 * when it is compiled, so that it spends one unit of fuel at every function entry and every loop
 * iteration and traps when its fuel runs out (the host refills it before each call through the
 * exported global `portico_fuel`), and so that its linear memory has a declared maximum.
 * The rewriter reads the binary format directly; an instruction it does not know is refused rather
 * than guessed, so a module it accepts is metered everywhere.
 */

/** Name of the exported fuel global the host sets before each call. */
export const FUEL_EXPORT = "portico_fuel";

/** Why a module cannot be metered. */
export class MeterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MeterError";
  }
}

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.bytes.length) throw new MeterError("unexpected end of module");
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift > 35) throw new MeterError("malformed LEB128");
    }
  }
  /** Skips a signed LEB128 (s32, s33 or s64). */
  skipSigned(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw new MeterError("malformed LEB128");
  }
  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.bytes.length) throw new MeterError("unexpected end of module");
  }
}

function leb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a non-negative integer (an `i64.const` immediate). */
function sleb(value: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...leb(bytes.length), ...bytes];
}

function section(id: number, content: number[] | Uint8Array): number[] {
  return [id, ...leb(content.length), ...content];
}

/** Skips a block type: empty, a value type, or a type index (s33). */
function skipBlockType(r: Reader): void {
  const b = r.bytes[r.pos]!;
  if (b === 0x40 || (b >= 0x6f && b <= 0x7f) || b === 0x7b) r.pos++;
  else r.skipSigned();
}

function skipMemarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory: memory index
  r.u32();
}

/** SIMD (0xfd) immediates by sub-opcode. */
function skipSimd(r: Reader, op: number): void {
  if (op <= 11 || op === 92 || op === 93) return skipMemarg(r);
  if (op === 12 || op === 13) return r.skip(16);
  if (op >= 21 && op <= 34) return r.skip(1);
  if (op >= 84 && op <= 91) {
    skipMemarg(r);
    return r.skip(1);
  }
  if (op > 275) throw new MeterError(`unknown SIMD instruction 0xfd ${op}`);
}

/** Misc (0xfc) immediates by sub-opcode. */
function skipMisc(r: Reader, op: number): void {
  if (op <= 7) return;
  if (op === 8 || op === 10 || op === 12 || op === 14) {
    r.u32();
    r.u32();
    return;
  }
  if (op === 9 || op === 11 || op === 13 || (op >= 15 && op <= 17)) return void r.u32();
  throw new MeterError(`unknown instruction 0xfc ${op}`);
}

/**
 * Copies one function body's instructions, inserting `check` after every `loop` header. Returns
 * the new expression bytes.
 */
function meterExpression(r: Reader, end: number, check: number[]): number[] {
  const out: number[] = [];
  while (r.pos < end) {
    const start = r.pos;
    const op = r.byte();
    if (op === 0x02 || op === 0x04 || op === 0x06) skipBlockType(r);
    else if (op === 0x03) {
      skipBlockType(r);
      out.push(...r.bytes.subarray(start, r.pos), ...check);
      continue;
    } else if (op === 0x0c || op === 0x0d || (op >= 0x07 && op <= 0x09) || op === 0x18 || op === 0x10 || op === 0x12 || op === 0xd2) r.u32();
    else if (op === 0x0e) {
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
    } else if (op === 0x11 || op === 0x13) {
      r.u32();
      r.u32();
    } else if (op === 0x1c) {
      const n = r.u32();
      r.skip(n);
    } else if (op >= 0x20 && op <= 0x26) r.u32();
    else if (op >= 0x28 && op <= 0x3e) skipMemarg(r);
    else if (op === 0x3f || op === 0x40) r.u32();
    else if (op === 0x41 || op === 0x42) r.skipSigned();
    else if (op === 0x43) r.skip(4);
    else if (op === 0x44) r.skip(8);
    else if (op === 0xd0) r.skip(1);
    else if (op === 0xfc) skipMisc(r, r.u32());
    else if (op === 0xfd) skipSimd(r, r.u32());
    else if (op === 0xfe) {
      const sub = r.u32();
      if (sub === 3) r.skip(1);
      else skipMemarg(r);
    } else if (
      !(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x19 || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1)
    ) {
      throw new MeterError(`unknown instruction 0x${op.toString(16)}`);
    }
    out.push(...r.bytes.subarray(start, r.pos));
  }
  return out;
}

/** The fuel check: spend one unit, trap below zero. */
function fuelCheck(global: number): number[] {
  const g = leb(global);
  return [0x23, ...g, 0x42, 0x01, 0x7d, 0x24, ...g, 0x23, ...g, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b];
}

interface Sections {
  readonly list: { id: number; body: Uint8Array }[];
}

function readSections(bytes: Uint8Array): Sections {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new MeterError("not a WebAssembly module");
  const r = new Reader(bytes);
  r.pos = 8;
  const list: { id: number; body: Uint8Array }[] = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    list.push({ id, body: bytes.subarray(r.pos, r.pos + size) });
    r.skip(size);
  }
  return { list };
}

/** How many globals and memories the module imports (skipping its function, table and tag imports). */
function importCounts(body: Uint8Array | undefined): { globals: number; memories: number } {
  const counts = { globals: 0, memories: 0 };
  if (!body) return counts;
  const r = new Reader(body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    r.skip(r.u32());
    r.skip(r.u32());
    const kind = r.byte();
    if (kind === 0x00 || kind === 0x04) {
      if (kind === 0x04) r.byte();
      r.u32();
    } else if (kind === 0x01) {
      r.byte();
      const flags = r.u32();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 0x02) {
      counts.memories++;
      const flags = r.u32();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 0x03) {
      counts.globals++;
      r.byte();
      r.byte();
    } else throw new MeterError(`unknown import kind ${kind}`);
  }
  return counts;
}

/** Where a section of this id goes in the module's order (custom sections aside). */
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

/**
 * Rewrites a module so that it is metered (starting with `fuel`) and its memory capped at
 * `maxPages` (64 KiB each).
 * Refuses modules that import their memory, declare more than one, or need more than the cap.
 */
export function meterModule(bytes: Uint8Array, maxPages: number, fuel: number): Uint8Array {
  const { list } = readSections(bytes);
  const get = (id: number) => list.find((s) => s.id === id)?.body;
  const imported = importCounts(get(2));
  if (imported.memories > 0) throw new MeterError("the module imports its memory; policies must define their own");

  // Globals: append the fuel global.
  const globals = get(6);
  const globalReader = globals ? new Reader(globals) : undefined;
  const definedGlobals = globalReader ? globalReader.u32() : 0;
  const fuelIndex = imported.globals + definedGlobals;
  // Starts full, so the module's start function (run while instantiating) is metered too.
  const fuelGlobal = [0x7e, 0x01, 0x42, ...sleb(fuel), 0x0b];
  const newGlobals = [...leb(definedGlobals + 1), ...(globals ? globals.subarray(globalReader!.pos) : []), ...fuelGlobal];

  // Exports: add the fuel global.
  const exports = get(7);
  const exportReader = exports ? new Reader(exports) : undefined;
  const exportCount = exportReader ? exportReader.u32() : 0;
  const newExports = [...leb(exportCount + 1), ...(exports ? exports.subarray(exportReader!.pos) : []), ...name(FUEL_EXPORT), 0x03, ...leb(fuelIndex)];

  // Memory: cap the maximum.
  const memory = get(5);
  let newMemory: number[] | undefined;
  if (memory) {
    const r = new Reader(memory);
    const count = r.u32();
    if (count > 1) throw new MeterError("the module declares more than one memory");
    if (count === 1) {
      const flags = r.u32();
      if (flags & ~1) throw new MeterError("shared or 64-bit memories are not supported for policies");
      const min = r.u32();
      const max = flags & 1 ? r.u32() : maxPages;
      if (min > maxPages) throw new MeterError(`the module needs ${min} pages of memory at start; its budget is ${maxPages}`);
      newMemory = [0x01, 0x01, ...leb(min), ...leb(Math.min(max, maxPages))];
    }
  }

  // Code: a check at every function entry and loop header.
  const code = get(10);
  const check = fuelCheck(fuelIndex);
  let newCode: number[] | undefined;
  if (code) {
    const r = new Reader(code);
    const count = r.u32();
    newCode = [...leb(count)];
    for (let i = 0; i < count; i++) {
      const size = r.u32();
      const end = r.pos + size;
      const localsStart = r.pos;
      const groups = r.u32();
      for (let g = 0; g < groups; g++) {
        r.u32();
        r.byte();
      }
      const locals = [...code.subarray(localsStart, r.pos)];
      const body = [...locals, ...check, ...meterExpression(r, end, check)];
      newCode.push(...leb(body.length), ...body);
    }
  }

  const replaced = new Map<number, number[]>([[6, newGlobals], [7, newExports]]);
  if (newMemory) replaced.set(5, newMemory);
  if (newCode) replaced.set(10, newCode);
  const out: number[] = [...bytes.subarray(0, 8)];
  const written = new Set<number>();
  const emitMissingBefore = (id: number) => {
    for (const [missing, content] of replaced) {
      if (written.has(missing) || list.some((s) => s.id === missing)) continue;
      if (ORDER.indexOf(missing) < ORDER.indexOf(id)) {
        out.push(...section(missing, content));
        written.add(missing);
      }
    }
  };
  for (const s of list) {
    if (s.id !== 0) emitMissingBefore(s.id);
    const content = replaced.get(s.id);
    out.push(...section(s.id, content ?? s.body));
    if (content) written.add(s.id);
  }
  for (const [missing, content] of replaced) if (!written.has(missing) && !list.some((s) => s.id === missing)) out.push(...section(missing, content));
  return Uint8Array.from(out);
}
