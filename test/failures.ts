/**
 * The failed tests of a JUnit report (`bun test --reporter=junit`) with the start of each
 * failure's reason: test/bun-suite.ts prints them when the suite fails, so the reasons are at the
 * end of the output, next to Bun's summary (which lists only the titles), where a CI log that
 * keeps only its tail still shows them.
 */

/** Lines of each failure's message printed (a gateway's output in a harness error can be long). */
const MAX_LINES = 40;

/** The text of an XML attribute or element, with the entities the JUnit writer uses decoded. */
export function unescapeXml(text: string): string {
  return text.replace(/&(#x?[0-9a-fA-F]+|lt|gt|amp|quot|apos);/g, (_, entity: string) => {
    switch (entity) {
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "amp":
        return "&";
      case "quot":
        return '"';
      case "apos":
        return "'";
      default:
        return String.fromCodePoint(entity[1] === "x" ? parseInt(entity.slice(2), 16) : Number(entity.slice(1)));
    }
  });
}

/** One failed test case of a report: its file, its title (with its describe blocks) and the failure's text. */
export interface Failure {
  readonly file: string;
  /** `outer > inner > test`, as Bun's summary names it. */
  readonly name: string;
  readonly text: string;
}

/** The failed test cases of a JUnit report, in report order. */
export function failures(xml: string): Failure[] {
  const found: Failure[] = [];
  const cases = /<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const [, attributes, body] of xml.matchAll(cases)) {
    const failure = body && /<(failure|error)\b[^>]*?(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    if (!failure) continue;
    const attribute = (name: string) => unescapeXml(new RegExp(`\\b${name}="([^"]*)"`).exec(attributes!)?.[1] ?? "");
    const message = /\bmessage="([^"]*)"/.exec(failure[0])?.[1] ?? "";
    // Bun's classname lists the describe blocks innermost first.
    const suites = attribute("classname").split(" > ").filter(Boolean).reverse();
    found.push({ file: attribute("file"), name: [...suites, attribute("name")].join(" > "), text: unescapeXml(failure[2] ?? message) });
  }
  return found;
}

/** The failures of a report as printed at the end of a failed suite: each title, then the start of its reason. */
export function summary(failed: readonly Failure[]): string {
  let text = `\n${failed.length} failed test(s), with the start of each reason:\n`;
  for (const { file, name, text: reason } of failed) {
    const lines = reason.trimEnd().split("\n");
    text += `\n--- ${file}: ${name}\n${lines.slice(0, MAX_LINES).join("\n")}\n`;
    if (lines.length > MAX_LINES) text += `... (${lines.length - MAX_LINES} more lines)\n`;
  }
  return text;
}
