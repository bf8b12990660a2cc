/**
 * The PROXY protocol (versions 1 and 2, as HAProxy's specification defines them) on a node:http
 * listener: a load balancer that relays raw TCP says in a header, before the first request, which
 * client the connection is for. The header is read off the socket before the HTTP parser sees a
 * byte; see docs/edge-networking.md.
 */
import type { Server } from "node:http";
import { createServer, type Server as NetServer, type Socket } from "node:net";

/** The 12-byte signature that starts a version 2 header. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A version 1 header is at most 107 bytes, CRLF included. */
const V1_MAX = 107;
/** Longest version 2 header accepted: its address block plus TLVs (the length field allows 64 KiB). */
const V2_MAX = 16 + 4096;

/** What a PROXY header said: the client's address, or none (`UNKNOWN`, `LOCAL`, or a family without one). */
export type ProxyHeader =
  | { readonly kind: "incomplete" }
  | { readonly kind: "invalid"; readonly reason: string }
  | { readonly kind: "header"; readonly length: number; readonly source: string | undefined };

const INCOMPLETE: ProxyHeader = { kind: "incomplete" };
const invalid = (reason: string): ProxyHeader => ({ kind: "invalid", reason });

function ipv4Text(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^(?:0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

function ipv6Text(text: string): boolean {
  return /^[0-9A-Fa-f:.]{2,45}$/.test(text) && text.includes(":");
}

function portText(text: string): boolean {
  return /^(?:0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535;
}

function parseV1(data: Buffer): ProxyHeader {
  const end = data.indexOf("\r\n");
  if (end < 0) return data.length >= V1_MAX ? invalid("version 1 header longer than 107 bytes") : INCOMPLETE;
  if (end + 2 > V1_MAX) return invalid("version 1 header longer than 107 bytes");
  const fields = data.subarray(0, end).toString("latin1").split(" ");
  if (fields[1] === "UNKNOWN") return { kind: "header", length: end + 2, source: undefined };
  if (fields.length !== 6) return invalid("version 1 header without the six fields");
  const [, family, source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string, string];
  const valid = family === "TCP4" ? ipv4Text(source) && ipv4Text(destination) : family === "TCP6" && ipv6Text(source) && ipv6Text(destination);
  if (!valid || !portText(sourcePort) || !portText(destinationPort)) return invalid("version 1 header with a bad family, address or port");
  return { kind: "header", length: end + 2, source };
}

/** An IPv6 address from its 16 bytes, the longest run of zero words written `::`. */
function ipv6Bytes(bytes: Buffer): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
  }
  if (best < 0) return words.join(":");
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLength).join(":")}`;
}

function parseV2(data: Buffer): ProxyHeader {
  if (data.length < 16) return INCOMPLETE;
  const versionCommand = data[12]!;
  if (versionCommand >> 4 !== 2) return invalid("version 2 header with another version");
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid("version 2 header with an unknown command");
  const length = data.readUInt16BE(14);
  if (16 + length > V2_MAX) return invalid("version 2 header too long");
  if (data.length < 16 + length) return INCOMPLETE;
  const total = 16 + length;
  // LOCAL: the proxy's own connection (a health check); the peer is the client.
  if (command === 0) return { kind: "header", length: total, source: undefined };
  const family = data[13]!;
  const body = data.subarray(16, total);
  if (family === 0x11) {
    if (length < 12) return invalid("version 2 TCP over IPv4 header too short");
    return { kind: "header", length: total, source: `${body[0]}.${body[1]}.${body[2]}.${body[3]}` };
  }
  if (family === 0x21) {
    if (length < 36) return invalid("version 2 TCP over IPv6 header too short");
    return { kind: "header", length: total, source: ipv6Bytes(body.subarray(0, 16)) };
  }
  // UNSPEC and UNIX stream sockets name no IP address: the peer is the client.
  if (family === 0x00 || family === 0x31) return { kind: "header", length: total, source: undefined };
  return invalid("version 2 header for a transport other than a stream");
}

/**
 * Reads a PROXY header at the start of `data`: version 1 (`PROXY TCP4 ...\r\n`) or 2 (binary).
 * `incomplete` when more bytes are needed; `invalid` when `data` does not start with one.
 */
export function parseProxyHeader(data: Buffer): ProxyHeader {
  if (data.length === 0) return INCOMPLETE;
  const signature = Math.min(data.length, 12);
  if (data.subarray(0, signature).equals(V2_SIGNATURE.subarray(0, signature))) return signature < 12 ? INCOMPLETE : parseV2(data);
  const prefix = Math.min(data.length, 6);
  if (data.subarray(0, prefix).toString("latin1") === "PROXY ".slice(0, prefix)) return prefix < 6 ? INCOMPLETE : parseV1(data);
  return invalid("the connection does not start with a PROXY header");
}

/** Where the client address a PROXY header named is kept on its socket. */
const SOURCE = Symbol("portico.proxyProtocolSource");

/** The client address the PROXY header of a socket's connection named, if one did. */
export function proxiedSource(socket: Socket | null | undefined): string | undefined {
  return (socket as (Socket & { [SOURCE]?: string }) | null | undefined)?.[SOURCE];
}

/** How a listener takes the PROXY protocol. */
export interface ProxyProtocolOptions {
  /** Whether a connection's peer address is a trusted proxy (others are closed at once). */
  readonly trusts: (address: string) => boolean;
  /** Longest wait for the header, from the connection's start (the request-head timeout). */
  readonly timeoutMs: number;
}

/**
 * A node:net server in front of `server`: each connection from a trusted proxy must start with a
 * PROXY header, which is read and removed before `server` gets the connection; a connection from
 * anywhere else, or without a valid header within the timeout, is closed without an answer.
 */
export function proxyProtocolFront(server: Server | NetServer, options: ProxyProtocolOptions): NetServer {
  return createServer({ pauseOnConnect: false }, (socket) => {
    const peer = socket.remoteAddress ?? "";
    if (!options.trusts(peer)) {
      socket.destroy();
      return;
    }
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const header = parseProxyHeader(buffered);
      if (header.kind === "incomplete") return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      if (header.kind === "invalid") {
        socket.destroy();
        return;
      }
      socket.pause();
      if (header.source !== undefined) (socket as Socket & { [SOURCE]?: string })[SOURCE] = header.source;
      const rest = buffered.subarray(header.length);
      if (rest.length) socket.unshift(rest);
      server.emit("connection", socket);
      socket.resume();
    };
    const onError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", onError);
  });
}
