/**
 * The validate-jwt step: a chain step the gateway runs itself (on_request only), with APIM's
 * parameters as config/schema/validate-jwt.ts resolves them. Per request: find the token, refuse
 * one over 8 KiB, look its sha256 up among tokens already accepted (a repeated token costs that
 * and nothing else), else have jose's jwtVerify check it (verify.ts: the algorithm against the
 * keys' allow-lists, the key its header names, the signature, the claims), then APIM's required
 * claims. An accepted token's claims go to
 * `exchange.claims` (and its payload's JSON to the `output-token-variable-name` variable); a
 * refused one is answered with the configured status as problem+json, and counted by reason.
 * Keys that are not there (an endpoint down or answering garbage) refuse the token, never pass it.
 */
import type { FailureMode } from "../chain.ts";
import type { ChainStep } from "../chain.ts";
import type { PolicyExchange } from "../abi.ts";
import { problemBody, type ProblemDetails, problemHeaders } from "../../http/problem.ts";
import type { SigningJwk } from "../../../config/snapshot/build.ts";
import type { HostPolicyContext } from "../host.ts";
import { claimsMap, type RequiredClaim } from "./claims.ts";
import { type Accepted, NO_EXPIRY_TTL_MS, tokenHash, VerifiedTokens } from "./cache.ts";
import { RemoteKeys } from "./jwks.ts";
import { importKeys, type KeySet } from "./keys.ts";
import { type TokenReader, tokenReader } from "./token.ts";
import { type ClaimRules, MAX_TOKEN_LENGTH, type Refusal, TokenVerifier } from "./verify.ts";

/** What a client is told for each refusal when the configuration gives no `failed-validation-error-message`. */
const DETAILS: Readonly<Record<Refusal, string>> = {
  missing: "The request carries no token where this API expects one.",
  "too-large": `The token is larger than ${MAX_TOKEN_LENGTH / 1024} KiB.`,
  malformed: "The token is not a well-formed signed JWT.",
  algorithm: "The token's signing algorithm is not accepted.",
  "unknown-key": "The token's signing key is not known.",
  signature: "The token's signature is not valid.",
  expired: "The token has expired.",
  "not-yet-valid": "The token is not valid yet.",
  "no-expiration": "The token has no expiration time.",
  issuer: "The token's issuer is not accepted.",
  audience: "The token's audience is not accepted.",
  claim: "The token lacks a required claim or claim value.",
  "keys-unavailable": "The keys to check the token could not be obtained.",
};

/** The verification needs keys it does not have yet, and a fetch may bring them. */
const FETCH = Symbol("fetch");

/** A refusal answer, prepared once per reason. */
interface PreparedReply {
  readonly problem: ProblemDetails;
  readonly body: string;
}

function lines(value: string | undefined): string[] {
  return value ? value.split("\n") : [];
}

/** validate-jwt, compiled from its resolved parameters (see the file's comment). */
export class JwtStep implements ChainStep {
  readonly body = undefined;
  readonly #read: TokenReader;
  readonly #rules: ClaimRules;
  readonly #issuers: readonly string[] | undefined;
  /** The inline keys once imported; undefined while they are imported, or when there are none. */
  #static: KeySet | undefined;
  /** The import of the inline keys, while it runs. */
  #staticImport: Promise<void> | undefined;
  /** Some inline key did not import: tokens it would have verified are refused as keys-unavailable. */
  #staticFailed = false;
  /** The verifier for the current key sets (rebuilt when they change). */
  #verifier: { sets: readonly KeySet[]; verifier: TokenVerifier } | undefined;
  readonly #remotes: RemoteKeys[];
  readonly #outputVariable: string | undefined;
  readonly #replies = new Map<Refusal, PreparedReply>();
  readonly #cache = new VerifiedTokens();
  #closed = false;

  constructor(
    readonly name: string,
    readonly failure: FailureMode,
    config: Readonly<Record<string, string>>,
    private readonly context: HostPolicyContext,
  ) {
    const scheme = config["require-scheme"];
    this.#read = tokenReader({ header: config["header-name"], scheme, query: config["query-parameter-name"], template: config["token-value"] });
    const audiences = lines(config.audiences);
    this.#rules = {
      requireExpiration: config["require-expiration-time"] !== "false",
      skewSeconds: Number(config["clock-skew"] ?? "0"),
      audiences: audiences.length ? audiences : undefined,
      required: config["required-claims"] ? (JSON.parse(config["required-claims"]) as RequiredClaim[]) : [],
    };
    const issuers = lines(config.issuers);
    this.#issuers = issuers.length ? issuers : undefined;
    const inline = config["issuer-signing-keys"] ? (JSON.parse(config["issuer-signing-keys"]) as SigningJwk[]) : [];
    if (inline.length) {
      // Imported once, now (not awaited: the first token waits for it if it comes first).
      this.#staticImport = importKeys(inline).then(({ keys, failed }) => {
        this.#static = keys;
        if (failed) {
          this.#staticFailed = true;
          context.logger?.error("validate-jwt could not import some of its issuer-signing-keys", { policy: name, failed });
        }
      }).finally(() => (this.#staticImport = undefined));
    }
    const refreshMs = Number(config["jwks-refresh-interval"] ?? "3600") * 1000;
    const cooldownMs = Number(config["jwks-refetch-cooldown"] ?? "30") * 1000;
    const fetchContext = { fetch: context.fetch, logger: context.logger, fetchFailed: context.metrics?.jwtKeysFetchFailed.bind(context.metrics) };
    this.#remotes = [
      ...lines(config["openid-config"]).map((url) => new RemoteKeys({ kind: "openid", url, refreshMs, cooldownMs, policy: name }, fetchContext)),
      ...lines(config.jwks).map((url) => new RemoteKeys({ kind: "jwks", url, refreshMs, cooldownMs, policy: name }, fetchContext)),
    ];
    this.#outputVariable = config["output-token-variable-name"];
    const status = Number(config["failed-validation-httpcode"] ?? "401");
    const message = config["failed-validation-error-message"];
    const challenge = scheme || "Bearer";
    for (const [reason, detail] of Object.entries(DETAILS) as [Refusal, string][]) {
      const problem: ProblemDetails = {
        kind: reason === "missing" ? "jwt-missing" : "jwt-invalid",
        // APIM's wording: "JWT not present." / "JWT Validation Failed: ...".
        title: reason === "missing" ? "JWT not present" : "JWT validation failed",
        status,
        detail: message ?? detail,
        // RFC 6750 §3: a 401 names the scheme, and `invalid_token` when a token was presented.
        headers: status === 401 ? { "www-authenticate": reason === "missing" ? challenge : `${challenge} error="invalid_token"` } : undefined,
      };
      this.#replies.set(reason, { problem, body: problemBody(problem) });
    }
  }

  /** Starts fetching the remote keys (not awaited). */
  start(): this {
    for (const remote of this.#remotes) remote.start();
    return this;
  }

  /** The remote key sources, for tests. */
  get remotes(): readonly RemoteKeys[] {
    return this.#remotes;
  }

  /** Accepted tokens cached, for tests. */
  get cachedTokens(): number {
    return this.#cache.size;
  }

  has(hook: string): boolean {
    return hook === "on_request";
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  async call(_hook: string, exchange: PolicyExchange): Promise<void> {
    if (this.#closed) throw new Error("policy instance used after its configuration was retired");
    const token = this.#read(exchange);
    if (token === undefined) return this.#refuse(exchange, "missing");
    if (token.length > MAX_TOKEN_LENGTH) return this.#refuse(exchange, "too-large");
    const now = Date.now();
    const hash = tokenHash(token);
    const hit = this.#cache.get(hash, now, this.#generation());
    if (hit) return this.#accept(exchange, hit);
    if (this.#staticImport) await this.#staticImport;
    let outcome = await this.#verify(token, now, true);
    if (outcome === FETCH) {
      await Promise.all(this.#remotes.map((remote) => remote.refetch()));
      outcome = await this.#verify(token, Date.now(), false);
    }
    if (typeof outcome === "string") return this.#refuse(exchange, outcome);
    const accepted = outcome as Accepted;
    this.#cache.set(hash, accepted);
    this.#accept(exchange, accepted);
  }

  /** The sum of the key sources' generations: it changes whenever any of their keys change. */
  #generation(): number {
    let generation = 0;
    for (const remote of this.#remotes) generation += remote.generation;
    return generation;
  }

  /**
   * The verifier for these key sets, built again when they change: its allow-list is their
   * algorithms, and its issuers the configured ones, else those the OpenID configurations declare
   * (which arrive with the keys).
   */
  #verifierFor(sets: readonly KeySet[]): TokenVerifier {
    const current = this.#verifier;
    if (current && current.sets.length === sets.length && current.sets.every((set, i) => set === sets[i])) return current.verifier;
    const discovered = this.#remotes.flatMap((remote) => (remote.issuer === undefined ? [] : [remote.issuer]));
    const issuers = this.#issuers ?? (discovered.length ? discovered : undefined);
    const verifier = new TokenVerifier(sets, this.#rules, issuers);
    this.#verifier = { sets, verifier };
    return verifier;
  }

  /** Verifies a token with the keys at hand; FETCH when fetching may bring the key it needs (once per request). */
  async #verify(token: string, now: number, mayFetch: boolean): Promise<Accepted | Refusal | typeof FETCH> {
    const sets: KeySet[] = this.#static ? [this.#static] : [];
    let missing = this.#staticFailed;
    for (const remote of this.#remotes) {
      const keys = remote.keys;
      if (keys) sets.push(keys);
      else missing = true;
    }
    const generation = this.#generation();
    const verifier = this.#verifierFor(sets);
    const result = await verifier.verify(token, now);
    if ("refusal" in result) return result.refusal;
    if ("unmatched" in result) {
      const { kid } = result.unmatched;
      // A kid no key has (or no keys at all yet): a fetch may bring it, within the cooldown.
      if ((kid !== undefined && !verifier.knows(kid)) || sets.length === 0) {
        if (mayFetch && this.#remotes.length) return FETCH;
        return missing ? "keys-unavailable" : "unknown-key";
      }
      // The key it names, or every key, does not allow its alg; keys not there yet might.
      if (missing && mayFetch) return FETCH;
      return missing ? "keys-unavailable" : "algorithm";
    }
    const { payload } = result;
    const exp = payload.exp;
    return {
      claims: claimsMap(payload),
      payloadJson: this.#outputVariable === undefined ? "" : JSON.stringify(payload),
      // An exp jose accepted is a number; one that is not finite (1e999) is trusted no longer than a token without exp.
      until: exp === undefined || !Number.isFinite(exp) ? now + NO_EXPIRY_TTL_MS : (exp + this.#rules.skewSeconds) * 1000,
      generation,
    };
  }

  #accept(exchange: PolicyExchange, accepted: Accepted): void {
    exchange.claims = accepted.claims;
    if (this.#outputVariable !== undefined) (exchange.variables ??= new Map()).set(this.#outputVariable, accepted.payloadJson);
  }

  #refuse(exchange: PolicyExchange, reason: Refusal): void {
    this.context.metrics?.jwtRefused(reason);
    const { problem, body } = this.#replies.get(reason)!;
    // The prepared body, unless the request has a trace id to carry (as every problem answer does).
    const traced = exchange.traceId === undefined ? body : problemBody({ ...problem, extensions: { traceId: exchange.traceId } });
    exchange.reply = { status: problem.status, headers: problemHeaders(problem), body: traced };
  }
}
