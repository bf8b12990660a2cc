import { realpathSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";

/** A file reference of the desired configuration: the file to read, or why it may not be read. */
export type ConfinedFile = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string };

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return !isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`);
}

/**
 * Resolves a file named in the control plane's desired configuration (a certificate, a key, a CA
 * bundle, a policy module) against the configuration folder, and refuses it unless it stays inside
 * that folder: not through `..`, not as an absolute path elsewhere, not through a symbolic link
 * that leads out. Whoever may write the desired configuration could otherwise have the control
 * plane read any file it can (another service's TLS key, its own keys and admin token under
 * `DIR/state`) and hand it to gateways inside a view. Only the folder is watched for changes, too.
 *
 * On success, the path to read is the file's real path (symbolic links inside the folder resolved),
 * so what is read is what was checked. A file that does not exist is passed on as resolved, for
 * the reader to report as it reports any unreadable file.
 */
export function confineToFolder(folder: string, reference: string): ConfinedFile {
  const root = resolve(folder);
  const path = resolve(root, reference);
  const refusal = (where: string | undefined) => ({
    ok: false as const,
    message: `${reference} is outside the configuration folder ${root}${where ? ` (${where})` : ""}; the control plane reads only files inside it`,
  });
  if (!inside(root, path)) return refusal(path === reference ? undefined : `it resolves to ${path}`);
  const realRoot = realPath(root) ?? root;
  const real = realPath(path);
  if (real === undefined) {
    // Missing: the reader reports it. Unless it would be missing from a folder a link leads out to.
    const parent = realPath(dirname(path));
    return parent !== undefined && !inside(realRoot, parent) ? refusal(`a symbolic link leads to ${parent}`) : { ok: true, path };
  }
  if (!inside(realRoot, real)) return refusal(`a symbolic link leads to ${real}`);
  return { ok: true, path: real };
}

function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}
