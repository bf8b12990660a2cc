/**
 * The validate-jwt step: a chain step the gateway runs itself (on_request only), with APIM's
 * parameters as config/schema/validate-jwt.ts resolves them. Per request: find the token, refuse
 * one over 8 KiB, look its sha256 up among tokens already accepted (a repeated token costs that
 * and nothing else), else parse it, pick the keys its header may name (kid and alg against each
 * key's allow-list), verify the signature, check the claims. An accepted token's claims go to
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
import { KeySet, verifyKey } from "./keys.ts";
import { type TokenReader, tokenReader } from "./token.ts";
import { checkClaims, type ClaimRules, MAX_TOKEN_LENGTH, type ParsedToken, parseToken, type Refusal, verifySignature } from "./verify.ts";

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

/** Most keys one token is tried against (tokens without kid, several keys allowing its alg). */
const MAX_CANDIDATES = 8;

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
  readonly #issuers: ReadonlySet<string> | undefined;
  readonly #static: KeySet | undefined;
  readonly #remotes: RemoteKeys[];
  readonly #outputVariable: string | undefined;
  readonly #replies = new Map<Refusal, PreparedReply>();
  readonly #cache = new VerifiedTokens();
  #discovered: { generation: number; issuers: ReadonlySet<string> | undefined } = { generation: -1, issuers: undefined };
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
      audiences: audiences.length ? new Set(audiences) : undefined,
      required: config["required-claims"] ? (JSON.parse(config["required-claims"]) as RequiredClaim[]) : [],
    };
    const issuers = lines(config.issuers);
    this.#issuers = issuers.length ? new Set(issuers) : undefined;
    const inline = config["issuer-signing-keys"] ? (JSON.parse(config["issuer-signing-keys"]) as SigningJwk[]) : [];
    this.#static = inline.length ? new KeySet(inline.map(verifyKey)) : undefined;
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
    const parsed = parseToken(token);
    if (typeof parsed === "string") return this.#refuse(exchange, parsed);
    let outcome = this.#verify(parsed, now, true);
    if (outcome === FETCH) {
      await Promise.all(this.#remotes.map((remote) => remote.refetch()));
      outcome = this.#verify(parsed, Date.now(), false);
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

  /** The issuers tokens must name: the configured ones, else those the OpenID configurations declare. */
  #issuerSet(): ReadonlySet<string> | undefined {
    if (this.#issuers) return this.#issuers;
    const generation = this.#generation();
    if (this.#discovered.generation !== generation) {
      const found = this.#remotes.flatMap((remote) => (remote.issuer === undefined ? [] : [remote.issuer]));
      this.#discovered = { generation, issuers: found.length ? new Set(found) : undefined };
    }
    return this.#discovered.issuers;
  }

  /** Verifies a parsed token with the keys at hand; FETCH when fetching may bring the key it needs (once per request). */
  #verify(token: ParsedToken, now: number, mayFetch: boolean): Accepted | Refusal | typeof FETCH {
    const sets: KeySet[] = this.#static ? [this.#static] : [];
    let missing = false;
    for (const remote of this.#remotes) {
      const keys = remote.keys;
      if (keys) sets.push(keys);
      else missing = true;
    }
    const { alg, kid } = token;
    const candidates = [];
    let knownKid = false;
    for (const set of sets) {
      if (kid !== undefined && set.hasKid(kid)) knownKid = true;
      candidates.push(...set.candidates(alg, kid));
    }
    if (candidates.length === 0) {
      // A kid no key has (or no keys at all yet): a fetch may bring it, within the cooldown.
      if ((kid !== undefined && !knownKid) || sets.length === 0) {
        if (mayFetch && this.#remotes.length) return FETCH;
        return missing ? "keys-unavailable" : "unknown-key";
      }
      if (missing && mayFetch) return FETCH;
      return missing ? "keys-unavailable" : "algorithm";
    }
    const generation = this.#generation();
    let verified = false;
    for (let i = 0; i < candidates.length && i < MAX_CANDIDATES; i++) {
      if (verifySignature(alg, candidates[i]!, token.signingInput, token.signature)) {
        verified = true;
        break;
      }
    }
    if (!verified) return "signature";
    const refusal = checkClaims(token.payload, this.#rules, this.#issuerSet(), Math.floor(now / 1000));
    if (refusal) return refusal;
    const exp = token.payload.exp as number | undefined;
    return {
      claims: claimsMap(token.payload),
      payloadJson: token.payloadJson,
      until: exp === undefined ? now + NO_EXPIRY_TTL_MS : (exp + this.#rules.skewSeconds) * 1000,
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
    exchange.reply = { status: problem.status, headers: problemHeaders(problem), body };
  }
}
