// Built-in policy `ip-filter` (APIM's ip-filter): lets only the listed client addresses through
// (`action: allow`) or refuses them (`action: forbid`); a refused client gets 403 problem+json.
// The configuration lists addresses, CIDR blocks and ranges (IPv4 and IPv6); validation turns them
// into `ranges`: one `FROM-TO` per line, each a 128-bit address as 32 hex digits (IPv4 as
// ::ffff:a.b.c.d). Parameters given to the module: action, ranges.
import { Config, Request, problem } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let allow = true;
// Each range as four u64: from.hi, from.lo, to.hi, to.lo.
let bounds: u64[] = [];

function hex(text: string): u64 {
  let value: u64 = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const digit = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
    value = (value << 4) | <u64>digit;
  }
  return value;
}

function load(): void {
  const action = Config.get("action");
  allow = action === null || action! != "forbid";
  const list = Config.get("ranges");
  if (list !== null && list!.length > 0) {
    const lines = list!.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.length != 65) unreachable();
      bounds.push(hex(line.substring(0, 16)));
      bounds.push(hex(line.substring(16, 32)));
      bounds.push(hex(line.substring(33, 49)));
      bounds.push(hex(line.substring(49, 65)));
    }
  }
  loaded = true;
}

// The parsed client address.
let hi: u64 = 0;
let lo: u64 = 0;

/** Parses dotted IPv4 into its 32 bits; -1 when it is not one. */
function ipv4(text: string): i64 {
  const parts = text.split(".");
  if (parts.length != 4) return -1;
  let value: i64 = 0;
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    if (part.length == 0 || part.length > 3) return -1;
    let n: i64 = 0;
    for (let j = 0; j < part.length; j++) {
      const c = part.charCodeAt(j);
      if (c < 0x30 || c > 0x39) return -1;
      n = n * 10 + (c - 0x30);
    }
    if (n > 255) return -1;
    value = (value << 8) | n;
  }
  return value;
}

/** Parses an IPv4 or IPv6 address (zone ids ignored) into hi/lo; false when it is neither. */
function parse(text: string): bool {
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.substring(0, zone);
  if (!text.includes(":")) {
    const v4 = ipv4(text);
    if (v4 < 0) return false;
    hi = 0;
    lo = (<u64>0xffff << 32) | <u64>v4;
    return true;
  }
  // Up to eight 16-bit groups, one "::" for a run of zeros, and an IPv4 tail for the last two.
  const groups = new Array<i32>(8).fill(0);
  const double = text.indexOf("::");
  if (double >= 0 && text.indexOf("::", double + 1) >= 0) return false;
  const head = double >= 0 ? text.substring(0, double) : text;
  const tail = double >= 0 ? text.substring(double + 2) : "";
  const left = head.length > 0 ? head.split(":") : new Array<string>(0);
  const right = tail.length > 0 ? tail.split(":") : new Array<string>(0);
  const words: i32[] = [];
  const all = left.concat(right);
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const part = all[i];
    if (i == all.length - 1 && part.includes(".")) {
      const v4 = ipv4(part);
      if (v4 < 0) return false;
      words.push(<i32>((v4 >> 16) & 0xffff));
      words.push(<i32>(v4 & 0xffff));
      count += 2;
      continue;
    }
    if (part.length == 0 || part.length > 4) return false;
    let n = 0;
    for (let j = 0; j < part.length; j++) {
      const c = part.charCodeAt(j);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x57;
      if (d < 0) return false;
      n = (n << 4) | d;
    }
    words.push(n);
    count++;
  }
  if (count > 8 || (double < 0 && count != 8) || (double >= 0 && count > 7)) return false;
  // Words of the head go first, those of the tail last; the gap is the "::".
  let leftWords = 0;
  for (let i = 0; i < left.length; i++) leftWords += left[i].includes(".") ? 2 : 1;
  for (let i = 0; i < leftWords; i++) groups[i] = words[i];
  const rightWords = count - leftWords;
  for (let i = 0; i < rightWords; i++) groups[8 - rightWords + i] = words[leftWords + i];
  hi = 0;
  lo = 0;
  for (let i = 0; i < 4; i++) hi = (hi << 16) | <u64>groups[i];
  for (let i = 4; i < 8; i++) lo = (lo << 16) | <u64>groups[i];
  return true;
}

function listed(): bool {
  for (let i = 0; i + 3 < bounds.length; i += 4) {
    const afterFrom = hi > bounds[i] || (hi == bounds[i] && lo >= bounds[i + 1]);
    const beforeTo = hi < bounds[i + 2] || (hi == bounds[i + 2] && lo <= bounds[i + 3]);
    if (afterFrom && beforeTo) return true;
  }
  return false;
}

export function on_request(): i32 {
  if (!loaded) load();
  // An address that cannot be read is treated as not listed: refused by allow, let through by forbid.
  const known = parse(Request.clientIp());
  const inList = known && listed();
  if (inList != allow) problem(403, "forbidden", "Forbidden", "The client address is not allowed to call this API.");
  return 0;
}
