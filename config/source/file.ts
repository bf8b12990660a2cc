import { statSync } from "node:fs";
import { dirname } from "node:path";
import { resultHash, snapshotFromFile, type SnapshotResult } from "../snapshot/build.ts";

/**
 * Reads, validates and builds a standalone configuration file, its relative paths (certificates,
 * modules) read from the file's own folder; an unreadable file is a problem like any other.
 */
export function readConfigFile(path: string): SnapshotResult {
  return snapshotFromFile(path, { baseDir: dirname(path) });
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
 * seen, it is built again and the result handed to `onChange`, valid or not. Files the configuration
 * refers to (`dependencies`: certificates, policy modules) are polled too: when one of them changes,
 * the configuration is built again even if its own bytes did not change.
 */
export function watchConfigFile(
  path: string,
  lastHash: string,
  onChange: (result: SnapshotResult) => void,
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
    if (resultHash(result) === hash && !dependencyChanged) return;
    hash = resultHash(result);
    onChange(result);
  }, intervalMs);
  (timer as { unref?: () => void }).unref?.();
  return { stop: () => clearInterval(timer) };
}
