/**
 * A TLS test backend, always run on Node (node --import tsx test/tls-backend.ts CONFIG_JSON) so
 * every runtime's gateway is observed by the same server: it answers each request with what the
 * handshake negotiated (protocol, cipher, SNI, the client certificate's subject).
 */
import { createServer } from "node:https";
import type { TLSSocket } from "node:tls";

interface Options {
  cert: string;
  key: string;
  /** CA for client certificates; with it, a client certificate is required. */
  clientCa?: string;
  /** The only suites the backend accepts (OpenSSL names), and its highest version: a weak backend. */
  ciphers?: string;
  maxVersion?: "TLSv1.2" | "TLSv1.3";
}

const options = JSON.parse(process.argv[2]!) as Options;
const server = createServer(
  {
    cert: options.cert,
    key: options.key,
    ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    ...(options.ciphers ? { ciphers: `${options.ciphers}:@SECLEVEL=0` } : {}),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
  },
  (req, res) => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    req.resume();
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().standardName,
        servername: socket.servername,
        client: peer?.subject?.CN ?? null,
      }),
    );
  },
);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
