/**
 * Shrinks a failing program to a small one that fails the same way, for a readable reproduction:
 * statements are removed and expressions replaced by constants while the same property still
 * fails. Neither can make a program run for ever (loop bounds and call guards are part of the
 * constructs, not statements), and neither changes the nesting of what is left, so branch depths
 * stay right.
 */
import { type CheckOptions, checkProgram, type Failure, type Input } from "./differential.ts";
import type { Expr, Program, Stmt } from "./program.ts";

/** Every statement list of a program (function bodies and all nested ones, inside expressions too). */
function statementLists(program: Program): Stmt[][] {
  const lists: Stmt[][] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      if (node.length && isStmt(node[0])) lists.push(node as Stmt[]);
      for (const item of node) visit(item);
    } else if (node && typeof node === "object") {
      for (const value of Object.values(node)) visit(value);
    }
  };
  for (const f of program.functions) {
    visit(f.body);
    visit(f.returns);
  }
  return lists;
}

const STATEMENT_KINDS = new Set([
  "set",
  "gset",
  "store",
  "drop",
  "if",
  "block",
  "loop",
  "valueLoop",
  "br",
  "brIf",
  "brValue",
  "switch",
  "return",
  "trap",
  "callStmt",
  "tailCall",
  "probe",
  "fill",
  "copy",
  "vstore",
  "init",
  "dataDrop",
]);
const EXPRESSION_KINDS = new Set([
  "local",
  "global",
  "un",
  "bin",
  "load",
  "select",
  "tee",
  "call",
  "callIndirect",
  "host",
  "memSize",
  "memGrow",
  "blockExpr",
  "ifExpr",
  "other",
]);

function isStmt(node: unknown): node is Stmt {
  return !!node && typeof node === "object" && STATEMENT_KINDS.has((node as { k?: string }).k ?? "");
}

/** Places holding a non-constant expression: an object and the key under which it sits. */
function expressionSlots(program: Program): { owner: Record<string, unknown>; key: string }[] {
  const slots: { owner: Record<string, unknown>; key: string }[] = [];
  const visit = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      if (value && typeof value === "object" && !Array.isArray(value) && EXPRESSION_KINDS.has((value as { k?: string }).k ?? "")) {
        slots.push({ owner: node as Record<string, unknown>, key });
      }
      visit(value);
    }
  };
  for (const f of program.functions) {
    visit(f.body);
    visit(f.returns);
  }
  return slots;
}

/**
 * Shrinks `program` in place while `checkProgram` on `input` still fails with the same property;
 * stops after `attempts` checks. Returns the failure of the shrunk program.
 */
export function shrink(program: Program, input: Input | undefined, failure: Failure, options: CheckOptions, attempts = 3000): Failure {
  let last = failure;
  let tries = 0;
  const stillFails = (): boolean => {
    tries++;
    const f = checkProgram(program, input ? [input] : [], options);
    if (f && f.property === failure.property) {
      last = f;
      return true;
    }
    return false;
  };
  let changed = true;
  while (changed && tries < attempts) {
    changed = false;
    for (const list of statementLists(program)) {
      for (let i = list.length - 1; i >= 0 && tries < attempts; i--) {
        const [removed] = list.splice(i, 1);
        if (stillFails()) changed = true;
        else list.splice(i, 0, removed!);
      }
    }
    for (const { owner, key } of expressionSlots(program)) {
      if (tries >= attempts) break;
      const before = owner[key] as Expr;
      if (!("t" in before)) continue;
      owner[key] = { k: "const", t: before.t, v: before.t === "i32" ? 0 : 0n };
      if (stillFails()) changed = true;
      else owner[key] = before;
    }
  }
  return last;
}
