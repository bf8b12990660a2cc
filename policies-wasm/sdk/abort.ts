// The `abort` every AssemblyScript module needs, without a host import: a trap. The host sees the
// trap, discards the instance and applies the policy's failure mode.
export function portico_abort(message: usize, fileName: usize, line: u32, column: u32): void {
  unreachable();
}
