import { readFileSync, statSync } from "node:fs";
import { loadConfigText, type LoadResult } from "../load.ts";

/** Reads and validates a configuration file; an unreadable file is a problem like any other. */
export function readConfigFile(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "file not found" : code === "EACCES" ? "permission denied" : (error as Error).message;
    return { ok: false, hash: "", problems: [{ path: "", message: `cannot read configuration: ${reason}`, location: path }] };
  }
  return loadConfigText(text, path);
}

/** A running file watch; `stop` ends it. */
export interface FileWatch {
  stop(): void;
}

function fingerprint(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return "missing";
  }
}

/**
 * Watches a configuration file by polling its metadata (portable across runtimes and robust to
 * editors that replace the file by rename). When it changes and its bytes differ from the last
 * seen, the new text is loaded and handed to `onChange`, valid or not. Files the configuration
 * refers to (`dependencies`: certificates, policy modules) are polled too: when one of them changes,
 * the configuration is loaded again even if its own bytes did not change.
 */
export function watchConfigFile(
  path: string,
  lastHash: string,
  onChange: (result: LoadResult) => void,
  intervalMs = 200,
  dependencies: () => readonly string[] = () => [],
): FileWatch {
  const dependencyStamp = () => dependencies().map(fingerprint).join("|");
  let seen = fingerprint(path);
  let seenDependencies = dependencyStamp();
  let hash = lastHash;
  const timer = setInterval(() => {
    const now = fingerprint(path);
    const nowDependencies = dependencyStamp();
    if (now === seen && nowDependencies === seenDependencies) return;
    const dependencyChanged = nowDependencies !== seenDependencies;
    seen = now;
    seenDependencies = nowDependencies;
    const result = readConfigFile(path);
    if (result.hash === hash && !dependencyChanged) return;
    hash = result.hash;
    onChange(result);
  }, intervalMs);
  (timer as { unref?: () => void }).unref?.();
  return { stop: () => clearInterval(timer) };
}
