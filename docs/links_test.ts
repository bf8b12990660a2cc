// Every citation in the repository leads somewhere inside it: relative Markdown links resolve to a
// file or folder (and a `#section` to a heading of the Markdown file they name), and every
// Markdown file a comment or a document names by its file name exists. A reader of the
// repository alone can follow each one.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, extname, join, relative, resolve, sep } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../test/harness.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/** Folders that hold no citations of ours: dependencies, build output, local state. */
const SKIPPED_DIRS = new Set(["node_modules", "dist", "fleet", "build"]);
/** Files read for citations: documents, sources, manifests and scripts. */
const TEXT_EXTENSIONS = new Set([".md", ".ts", ".mjs", ".js", ".yaml", ".yml", ".json", ".c", ".rs", ".service", ".env", ".wat"]);
const TEXT_NAMES = new Set(["Containerfile", "run"]);

/** Text files under `dir` (hidden folders other than `.ci`, and SKIPPED_DIRS, left out), sorted. */
function textFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (SKIPPED_DIRS.has(entry.name) || (entry.name.startsWith(".") && entry.name !== ".ci")) continue;
      out.push(...textFiles(path));
    } else if (entry.isFile() && (TEXT_EXTENSIONS.has(extname(entry.name)) || TEXT_NAMES.has(entry.name)) && entry.name !== "package-lock.json") {
      out.push(path);
    }
  }
  return out.sort();
}

/** Markdown with fenced code blocks blanked out (line count kept), so nothing in them counts. */
function withoutFences(text: string): string {
  let fence: string | undefined;
  return text
    .split("\n")
    .map((line) => {
      const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence) {
        if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
        return "";
      }
      if (marker) {
        fence = marker;
        return "";
      }
      return line;
    })
    .join("\n");
}

/** Markdown prose: no fenced code, no inline code spans. */
function prose(text: string): string {
  return withoutFences(text)
    .split("\n")
    .map((line) => line.replace(/(`+)[^`]*?\1/g, " "))
    .join("\n");
}

/** A link target found in a Markdown file, with its line. */
interface Link {
  readonly target: string;
  readonly line: number;
}

/** Inline links and images (`[text](target)`) and reference definitions (`[label]: target`) of a Markdown text. */
function markdownLinks(text: string): Link[] {
  const links: Link[] = [];
  prose(text)
    .split("\n")
    .forEach((line, index) => {
      for (const match of line.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) {
        links.push({ target: match[1]!.replace(/^<|>$/g, ""), line: index + 1 });
      }
      const definition = /^\s{0,3}\[[^\]]+\]:\s*(\S+)/.exec(line);
      if (definition) links.push({ target: definition[1]!.replace(/^<|>$/g, ""), line: index + 1 });
    });
  return links;
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces turned into hyphens. */
function headingSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link shows its text
    .replace(/<[^>]+>/g, "")
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** The anchors a Markdown text defines: its headings' slugs (repeats numbered as GitHub does) and explicit `id`/`name` anchors. */
function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(text).split("\n")) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (heading) {
      const slug = headingSlug(heading[1]!);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      found.add(count ? `${slug}-${count}` : slug);
    }
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) found.add(match[1]!);
  }
  return found;
}

/** Why a link or citation of `target` from `file` leads nowhere, or undefined when it resolves (`bases`: folders to resolve against, in order). */
function brokenTarget(file: string, target: string, bases: readonly string[] = [dirname(file)]): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) return undefined; // a URL: not ours to check here
  const hash = target.indexOf("#");
  const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
  const fragment = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
  let path = file;
  if (pathPart) {
    const candidates = pathPart.startsWith("/") ? [join(ROOT, pathPart)] : bases.map((base) => resolve(base, pathPart));
    const found = candidates.find((candidate) => existsSync(candidate));
    if (!found) return `${pathPart} does not exist`;
    path = found;
  }
  if (!fragment || !path.endsWith(".md") || !statSync(path).isFile()) return undefined;
  if (!anchors(readFileSync(path, "utf8")).has(fragment)) return `${relative(ROOT, path) || pathPart} has no section #${fragment}`;
  return undefined;
}

/** What of a file may name other documents outside links: Markdown prose without its links (checked as links), or all of any other text. */
function citingText(file: string, text: string): string {
  if (!file.endsWith(".md")) return text;
  return prose(text)
    .replace(/!?\[[^\]]*\]\([^)]*\)/g, " ")
    .replace(/^\s{0,3}\[[^\]]+\]:\s*\S+.*$/gm, "");
}

/** Markdown files named in a text (a path or a bare file name ending in `.md`, with an optional `#section`), URLs left out. */
function citedMarkdownFiles(text: string): Link[] {
  const cited: Link[] = [];
  text
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)>"'`]+/gi, " ")
    .split("\n")
    .forEach((line, index) => {
      for (const match of line.matchAll(/(?<![\w./-])((?:\.{1,2}\/|[\w-]+\/)*[\w-][\w.-]*\.md)(#[\w-]+)?(?![\w-])/g)) {
        cited.push({ target: match[1]! + (match[2] ?? ""), line: index + 1 });
      }
    });
  return cited;
}

/** Markdown files named in the files' prose, comments and strings that lead nowhere, as `file:line: target: why`. */
function brokenCitations(files: readonly string[]): { checked: number; broken: string[] } {
  let checked = 0;
  const broken: string[] = [];
  for (const file of files) {
    if (file === SELF) continue; // its own examples of broken citations are not citations
    const text = readFileSync(file, "utf8");
    // In Markdown only prose counts (code shows commands and output); elsewhere the whole text does.
    // A file name counts from the citing file's folder, else from the repository's root.
    for (const link of citedMarkdownFiles(citingText(file, text))) {
      checked += 1;
      const why = brokenTarget(file, link.target, [dirname(file), ROOT]);
      if (why) broken.push(`${relative(ROOT, file)}:${link.line}: ${link.target}: ${why}`);
    }
  }
  return { checked, broken };
}

describe("citations between documents", () => {
  it("the checker finds links, definitions, sections and cited file names, skips code and URLs, and reports what is missing", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "target.md"), "# Target page\n\n## Section `two`, again\n\n## Section `two`, again\n");
    const page = join(dir, "page.md");
    const text = [
      "See [the target](sub/target.md#section-two-again-1), [a folder](sub) and [a section here](#local-heading).",
      "[gone](sub/missing.md) and [no section](sub/target.md#nowhere) and [site](https://example.com/x.md).",
      "[ref]: sub/target.md#target-page",
      "Also named in prose: sub/target.md#section-two-again, and `in/code.md` is not a citation.",
      "```",
      "[in a fence](sub/fenced.md)",
      "```",
      "## Local heading",
    ].join("\n");
    writeFileSync(page, text);
    assert.deepEqual(
      markdownLinks(text).map((l) => `${l.line} ${l.target}`),
      [
        "1 sub/target.md#section-two-again-1",
        "1 sub",
        "1 #local-heading",
        "2 sub/missing.md",
        "2 sub/target.md#nowhere",
        "2 https://example.com/x.md",
        "3 sub/target.md#target-page",
      ],
    );
    assert.deepEqual(
      markdownLinks(text).map((l) => brokenTarget(page, l.target)),
      [
        undefined,
        undefined,
        undefined,
        "sub/missing.md does not exist",
        `${relative(ROOT, join(dir, "sub", "target.md"))} has no section #nowhere`,
        undefined,
        undefined,
      ],
    );
    assert.deepEqual(citedMarkdownFiles(citingText(page, text)).map((l) => `${l.line} ${l.target}`), ["4 sub/target.md#section-two-again"]);
    assert.deepEqual(citedMarkdownFiles("// see docs/gone.md#part and https://example.com/a.md").map((l) => l.target), ["docs/gone.md#part"]);
    assert.deepEqual([...anchors(readFileSync(join(dir, "sub", "target.md"), "utf8"))], ["target-page", "section-two-again", "section-two-again-1"]);
  });

  it("every relative link in the repository's Markdown files resolves, sections included", () => {
    const files = textFiles(ROOT).filter((f) => f.endsWith(".md"));
    for (const area of ["README.md", `docs${sep}`, `bench${sep}`, `policies-wasm${sep}`]) {
      assert.ok(files.some((f) => relative(ROOT, f).startsWith(area)), `Markdown files under ${area} are checked`);
    }
    let checked = 0;
    const broken: string[] = [];
    for (const file of files) {
      for (const link of markdownLinks(readFileSync(file, "utf8"))) {
        checked += 1;
        const why = brokenTarget(file, link.target);
        if (why) broken.push(`${relative(ROOT, file)}:${link.line}: ${link.target}: ${why}`);
      }
    }
    assert.ok(checked > 50, `only ${checked} links found: is the parser broken?`);
    assert.deepEqual(broken, []);
  });

  it("every Markdown file named in a document, comment or manifest exists in the repository", () => {
    const { checked, broken } = brokenCitations(textFiles(ROOT));
    assert.ok(checked > 30, `only ${checked} citations found: is the scan broken?`);
    assert.deepEqual(broken, []);
  });
});
