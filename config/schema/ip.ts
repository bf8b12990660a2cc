/**
 * IP addresses, CIDR blocks and ranges for the `ip-filter` policy, as 128-bit numbers (IPv4 as
 * the IPv4-mapped IPv6 address `::ffff:a.b.c.d`, so one comparison serves both families).
 */

const V4_MAPPED = 0xffffn << 32n;
const ALL = (1n << 128n) - 1n;

function ipv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

/** Parses an IPv4 or IPv6 address (no zone id) into 128 bits; undefined when it is neither. */
export function parseIp(text: string): bigint | undefined {
  if (!text.includes(":")) {
    const v4 = ipv4(text);
    return v4 === undefined ? undefined : V4_MAPPED | v4;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const words = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = ipv4(part);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) out.push(parseInt(part, 16));
      else return undefined;
    }
    return out;
  };
  const head = words(halves[0]!);
  const tail = halves.length === 2 ? words(halves[1]!) : [];
  if (!head || !tail) return undefined;
  // The IPv4 tail may only end the address.
  if (halves.length === 2 && halves[0]!.includes(".")) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const all = [...head, ...Array<number>(8 - count).fill(0), ...tail];
  return all.reduce((acc, word) => (acc << 16n) | BigInt(word), 0n);
}

/** An inclusive range of addresses. */
export interface IpRange {
  readonly from: bigint;
  readonly to: bigint;
}

/** Parses an address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`); undefined when it is neither. */
export function parseCidr(text: string): IpRange | undefined {
  const slash = text.indexOf("/");
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  if (slash < 0) return { from: address, to: address };
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return undefined;
  const v4 = !text.slice(0, slash).includes(":");
  const prefix = Number(bits) + (v4 ? 96 : 0);
  if (prefix > 128 || (v4 && Number(bits) > 32)) return undefined;
  const host = prefix === 128 ? 0n : ALL >> BigInt(prefix);
  return { from: address & ~host & ALL, to: (address & ~host & ALL) | host };
}

/** A range as the `ip-filter` module reads it: `FROM-TO`, each 32 hex digits. */
export function formatRange({ from, to }: IpRange): string {
  return `${from.toString(16).padStart(32, "0")}-${to.toString(16).padStart(32, "0")}`;
}

/** The loopback ranges: 127.0.0.0/8 (also IPv4-mapped) and ::1. */
const LOOPBACK: readonly IpRange[] = [parseCidr("127.0.0.0/8")!, parseCidr("::1")!];

/**
 * Whether a host (an address, possibly in URL brackets, or a name) stays on this machine:
 * 127.0.0.0/8, `::1`, their IPv4-mapped forms, and `localhost` and its subdomains (RFC 6761).
 * Anything else, the unspecified `0.0.0.0` and `::` included, may be reached from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.trim().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "").toLowerCase();
  if (bare === "localhost" || bare.endsWith(".localhost")) return true;
  const address = parseIp(bare);
  return address !== undefined && LOOPBACK.some((range) => address >= range.from && address <= range.to);
}
