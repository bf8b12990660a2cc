import { randomBytes } from "node:crypto";
import type { Server as TlsServer } from "node:tls";

/**
 * How often Portico replaces the session ticket key of a node:tls listener where the runtime lets
 * it (Node). The key decrypts every ticket it sealed, so while it lives, whoever steals it can
 * decrypt the recorded TLS 1.2 sessions that were resumed with those tickets: a key that lived as
 * long as the process would undo forward secrecy for them. Node keeps one key, so a ticket sealed
 * before a rotation no longer resumes after it (the client makes a full handshake instead).
 */
export const TICKET_KEY_ROTATION_MS = 60 * 60 * 1000;

/**
 * Replaces the server's session ticket key (48 random bytes: key name, HMAC and AES keys) every
 * `everyMs`, until the returned function is called. Only for runtimes whose node:tls honours
 * `setTicketKeys` (the adapter's `ticketKeys` capability is "portico").
 */
export function rotateTicketKeys(server: TlsServer, everyMs: number = TICKET_KEY_ROTATION_MS): () => void {
  const timer = setInterval(() => server.setTicketKeys(randomBytes(48)), everyMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
