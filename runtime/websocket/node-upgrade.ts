import { type IncomingMessage, STATUS_CODES } from "node:http";
import { once } from "node:events";
import type { Duplex } from "node:stream";
import { HttpProblem } from "../http/problem.ts";
import type { FetchHandler } from "../server/adapter.ts";
import { acceptFor } from "./backend.ts";
import { takeUpgrade, type WebSocketConnections } from "./connections.ts";
import { spliceWebSocket } from "./splice.ts";

/**
 * The `upgrade` listener of a node:http server (Node, Deno, and Bun's node:http listeners): the
 * handshake is built into a Fetch request and handled by the gateway's handler like any request
 * (`env` is `{ incoming }`, as for other requests); an accepted handshake is answered 101 with the
 * backend's subprotocol and relayed (spliceWebSocket), anything else is written as an HTTP answer
 * and the connection closed. Upgrades to other protocols (`Upgrade: h2c` from `curl --http2` on a
 * plain port) get the handler's answer as a plain request when they carry no body; one with a body
 * is refused 400, since node:http hands the listener the raw connection and the body could not be
 * forwarded whole (Bun.serve serves it as a plain request, ignoring the upgrade, as RFC 9110 §7.8 allows).
 */
export function nodeUpgradeListener(handler: FetchHandler, connections: WebSocketConnections, proto: "http" | "https") {
  return async (incoming: IncomingMessage, socket: Duplex, head: Uint8Array): Promise<void> => {
    socket.on("error", () => socket.destroy());
    let response: Response;
    let request: Request | undefined;
    if (!asksForWebSocket(incoming) && carriesBody(incoming)) {
      const refusal = new HttpProblem("bad-request", {
        detail: "A request that asks to upgrade to a protocol other than WebSocket cannot carry a body here; send it without the Upgrade header.",
      });
      return void (await writeAnswer(socket, refusal.toResponse()));
    }
    try {
      request = fetchRequest(incoming, proto);
      response = await handler(request, { incoming });
    } catch (error) {
      response = error instanceof TypeError
        ? new HttpProblem("bad-request", { detail: "The request target or the Host header is not valid." }).toResponse()
        : new HttpProblem("internal").toResponse();
    }
    const backend = request && takeUpgrade(request);
    if (!backend) return void (await writeAnswer(socket, response));
    if (socket.destroyed) return void backend.socket.destroy();
    const key = incoming.headers["sec-websocket-key"]!;
    let answer = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n`;
    if (backend.protocol) answer += `Sec-WebSocket-Protocol: ${backend.protocol}\r\n`;
    socket.write(`${answer}\r\n`);
    spliceWebSocket(socket, head, backend, connections);
  };
}

/** Whether the request's `Upgrade` names websocket (RFC 6455 §4.1). */
function asksForWebSocket(incoming: IncomingMessage): boolean {
  const upgrade = incoming.headers.upgrade;
  return upgrade !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

/** Whether the request declares a body (a length above zero, or a transfer coding). */
function carriesBody(incoming: IncomingMessage): boolean {
  const length = incoming.headers["content-length"];
  return incoming.headers["transfer-encoding"] !== undefined || (length !== undefined && length.trim() !== "0");
}

/** The Fetch request for an upgrade request (no body: a handshake has none). */
function fetchRequest(incoming: IncomingMessage, proto: "http" | "https"): Request {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const target = incoming.url ?? "/";
  const url = /^https?:\/\//i.test(target) ? target : `${proto}://${incoming.headers.host ?? "localhost"}${target}`;
  return new Request(url, { method: incoming.method, headers });
}

/** Writes an HTTP/1.1 answer on the raw connection, its body delimited by the connection's close. */
async function writeAnswer(socket: Duplex, response: Response): Promise<void> {
  let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? "Unknown"}\r\n`;
  response.headers.forEach((value, name) => {
    if (name !== "connection" && name !== "content-length" && name !== "transfer-encoding") head += `${name}: ${value}\r\n`;
  });
  socket.write(`${head}connection: close\r\n\r\n`);
  if (response.body) {
    try {
      const reader = response.body.getReader();
      for (let part = await reader.read(); !part.done; part = await reader.read()) {
        if (socket.destroyed) {
          await reader.cancel();
          break;
        }
        if (!socket.write(part.value)) await Promise.race([once(socket, "drain"), once(socket, "close")]);
      }
    } catch {
      socket.destroy();
      return;
    }
  }
  socket.end();
}
