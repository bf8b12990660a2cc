import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { formatProblem } from "./problems.ts";
import { ALIASES, envName, resolveSettings, SETTING_KEYS, type Settings } from "./settings.ts";

function settingsOf(file: Record<string, unknown> | undefined, env: Record<string, string | undefined> = {}): Settings {
  const result = resolveSettings(file, env);
  if (!result.ok) assert.fail(`expected settings, got:\n${result.problems.map(formatProblem).join("\n")}`);
  return result.settings;
}

/** Resolves settings that must fail; returns `key: message` lines. */
function problemsOf(file: Record<string, unknown> | undefined, env: Record<string, string | undefined> = {}): string[] {
  const result = resolveSettings(file, env);
  if (result.ok) assert.fail(`expected problems, got settings: ${JSON.stringify(result.settings)}`);
  return result.problems.map(formatProblem);
}

const CONTRACT_KEYS = [
  "gateway.name",
  "config.service.endpoint",
  "config.service.auth",
  "config.sync.interval",
  "config.heartbeat.interval",
  "config.backup.enabled",
  "config.backup.path",
  "net.server.http.port",
  "net.server.https.port",
  "net.server.tls.min-version",
  "net.server.tls.ciphers.allowed-suites",
  "net.client.tls.ciphers.allowed-suites",
  "telemetry.metrics.otlp.endpoint",
  "telemetry.metrics.prometheus.enabled",
  "telemetry.logs.std",
  "net.management.port",
  "cache.redis.url",
];

describe("envName", () => {
  it("is PORTICO_ and the key upper-cased, with . and - turned into _", () => {
    assert.equal(envName("config.service.endpoint"), "PORTICO_CONFIG_SERVICE_ENDPOINT");
    assert.equal(envName("net.server.tls.min-version"), "PORTICO_NET_SERVER_TLS_MIN_VERSION");
    assert.equal(envName("net.client.tls.ciphers.allowed-suites"), "PORTICO_NET_CLIENT_TLS_CIPHERS_ALLOWED_SUITES");
    assert.equal(envName("gateway.name"), "PORTICO_GATEWAY_NAME");
  });

  it("gives every setting its own variable", () => {
    assert.equal(new Set(SETTING_KEYS.map(envName)).size, SETTING_KEYS.length);
  });
});

describe("resolveSettings: defaults", () => {
  it("knows every key of the contract", () => {
    // A contract key renamed since is still accepted under its first name (an alias).
    for (const key of CONTRACT_KEYS) assert.ok((SETTING_KEYS as string[]).includes(key) || key in ALIASES, `missing setting ${key}`);
  });

  it("uses the contract's defaults when nothing is given", () => {
    const settings = settingsOf(undefined);
    assert.equal(settings["gateway.name"], hostname());
    assert.equal(settings["config.service.endpoint"], undefined);
    assert.equal(settings["config.service.auth"], undefined);
    assert.equal(settings["config.sync.interval"], 10_000);
    assert.equal(settings["config.heartbeat.interval"], 60_000);
    assert.equal(settings["config.backup.enabled"], true);
    assert.equal(settings["config.backup.path"], "./.portico/backup");
    assert.equal(settings["net.server.http.port"], 8080);
    assert.equal(settings["net.server.https.port"], 8081);
    assert.equal(settings["net.server.tls.min-version"], "TLSv1.2");
    assert.equal(settings["net.server.tls.ciphers.allowed-suites"], undefined);
    assert.equal(settings["net.client.tls.ciphers.allowed-suites"], undefined);
    assert.equal(settings["telemetry.otlp.endpoint"], undefined);
    assert.equal(settings["telemetry.metrics.prometheus.enabled"], true);
    assert.equal(settings["telemetry.logs.std"], "json");
    assert.equal(settings["net.management.port"], 8090);
    assert.equal(settings["cache.redis.url"], undefined);
    assert.equal(settings["policy.state.max-bytes"], 64 * 1024 * 1024);
    assert.equal(settings["policy.body.max-buffered"], 64 * 1024 * 1024);
    assert.equal(settings["net.client.tls.max-pools"], 256);
    assert.deepEqual(resolveSettings({}, {}).warnings, []);
  });

  it("treats an empty or null value as not given", () => {
    const settings = settingsOf({ "net.server.http.port": null, "config.backup.path": "" });
    assert.equal(settings["net.server.http.port"], 8080);
    assert.equal(settings["config.backup.path"], "./.portico/backup");
  });
});

describe("resolveSettings: the settings file", () => {
  it("reads dotted keys and parses each value", () => {
    const settings = settingsOf({
      "gateway.name": "edge-1",
      "config.service.endpoint": "https://cp.example.com:8079",
      "config.sync.interval": "500ms",
      "config.heartbeat.interval": "2m",
      "config.backup.enabled": false,
      "net.server.http.port": 0,
      "net.server.https.port": "8443",
      "net.server.tls.min-version": "TLSv1.3",
      "net.server.tls.ciphers.allowed-suites": "TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256,,",
      "telemetry.logs.std": "text",
      "cache.redis.url": "rediss://cache.internal:6380",
    });
    assert.equal(settings["gateway.name"], "edge-1");
    assert.equal(settings["config.service.endpoint"], "https://cp.example.com:8079");
    assert.equal(settings["config.sync.interval"], 500);
    assert.equal(settings["config.heartbeat.interval"], 120_000);
    assert.equal(settings["config.backup.enabled"], false);
    assert.equal(settings["net.server.http.port"], 0);
    assert.equal(settings["net.server.https.port"], 8443);
    assert.equal(settings["net.server.tls.min-version"], "TLSv1.3");
    assert.deepEqual(settings["net.server.tls.ciphers.allowed-suites"], ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"]);
    assert.equal(settings["telemetry.logs.std"], "text");
    assert.equal(settings["cache.redis.url"], "rediss://cache.internal:6380");
  });

  it("counts a bare number as seconds for intervals", () => {
    assert.equal(settingsOf({ "config.sync.interval": 30 })["config.sync.interval"], 30_000);
    assert.equal(settingsOf({ "config.sync.interval": "30" })["config.sync.interval"], 30_000);
  });

  it("flattens nested maps, and mixes them with dotted keys", () => {
    const settings = settingsOf({
      net: { server: { http: { port: 9000 }, tls: { "min-version": "TLSv1.3" } }, management: { port: 9090 } },
      "config.backup": { enabled: "no", path: "/var/lib/portico" },
      gateway: { name: "edge-2" },
    });
    assert.equal(settings["net.server.http.port"], 9000);
    assert.equal(settings["net.server.tls.min-version"], "TLSv1.3");
    assert.equal(settings["net.management.port"], 9090);
    assert.equal(settings["config.backup.enabled"], false);
    assert.equal(settings["config.backup.path"], "/var/lib/portico");
    assert.equal(settings["gateway.name"], "edge-2");
  });

  it("reads the usual spellings of true and false", () => {
    for (const yes of [true, "true", "TRUE", "1", 1, "yes", "on"]) {
      assert.equal(settingsOf({ "config.backup.enabled": yes })["config.backup.enabled"], true, String(yes));
    }
    for (const no of [false, "false", "0", 0, "no", "off", "Off"]) {
      assert.equal(settingsOf({ "config.backup.enabled": no })["config.backup.enabled"], false, String(no));
    }
  });

  it("reports an unknown key, dotted or nested, with a suggestion", () => {
    assert.deepEqual(problemsOf({ "net.server.http.prot": 1, net: { server: { htp: { port: 2 } } }, "no.such.thing": 3 }), [
      'net.server.http.prot: unknown setting (did you mean "net.server.http.port"?)',
      'net.server.htp.port: unknown setting (did you mean "net.server.http.port"?)',
      "no.such.thing: unknown setting",
    ]);
  });
});

describe("resolveSettings: environment variables", () => {
  it("reads every setting from its variable", () => {
    const samples: Record<string, [string, unknown]> = {
      "gateway.name": ["edge-9", "edge-9"],
      "config.service.endpoint": ["http://cp:8079", "http://cp:8079"],
      "config.service.auth": ["GatewayKey abc", "GatewayKey abc"],
      "config.service.ca": ["/etc/portico/cp-ca.pem", "/etc/portico/cp-ca.pem"],
      "config.sync.interval": ["5s", 5_000],
      "config.heartbeat.interval": ["1m", 60_000],
      "config.backup.enabled": ["false", false],
      "config.backup.path": ["/tmp/b", "/tmp/b"],
      "net.server.bind-address": ["127.0.0.1", "127.0.0.1"],
      "net.server.http.port": ["1", 1],
      "net.server.https.port": ["65535", 65535],
      "net.server.grpc.port": ["50051", 50051],
      "net.server.tls.min-version": ["TLSv1.3", "TLSv1.3"],
      "net.server.tls.ciphers.allowed-suites": ["TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", [
        "TLS_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      ]],
      "net.client.tls.ciphers.allowed-suites": ["TLS_AES_256_GCM_SHA384", ["TLS_AES_256_GCM_SHA384"]],
      "net.server.timeouts.header": ["5s", 5_000],
      "net.server.timeouts.body-idle": ["2s", 2_000],
      "net.server.timeouts.request": ["10m", 600_000],
      "net.server.timeouts.keep-alive": ["30s", 30_000],
      "net.server.body.min-rate": ["1024", 1024],
      "net.server.body.min-rate-grace": ["500ms", 500],
      "net.server.path.encoded-separators": ["decode", "decode"],
      "net.server.http.forwarded.trusted-proxies": ["10.0.0.0/8,::1", [{ from: 0xffff0a000000n, to: 0xffff0affffffn }, { from: 1n, to: 1n }]],
      "net.server.http.forwarded.proto.enabled": ["true", true],
      "net.server.http.proxy-protocol": ["on", true],
      "net.server.http2.enabled": ["yes", true],
      "net.server.http2.cleartext": ["false", false],
      "net.server.http2.max-concurrent-streams": ["100", 100],
      "net.server.http2.max-header-list-size": ["32KiB", 32 * 1024],
      "net.server.websocket.idle-timeout": ["90s", 90_000],
      "net.server.websocket.max-message-bytes": ["2MiB", 2 * 1024 * 1024],
      "net.management.bind-address": ["::1", "::1"],
      "net.management.port": ["0", 0],
      "telemetry.otlp.endpoint": ["http://otel:4318", "http://otel:4318"],
      "telemetry.otlp.enabled": ["no", false],
      "telemetry.otlp.protocol": ["http/json", "http/json"],
      "telemetry.otlp.headers": ["Api-Key=a%2Cb, x-tenant = t1", { "api-key": "a,b", "x-tenant": "t1" }],
      "telemetry.otlp.timeout": ["2s", 2_000],
      "telemetry.otlp.spool.path": ["/var/spool/portico", "/var/spool/portico"],
      "telemetry.otlp.spool.max-bytes": ["0", 0],
      "telemetry.metrics.prometheus.enabled": ["off", false],
      "telemetry.metrics.export-interval": ["15s", 15_000],
      "telemetry.metrics.histogram.buckets": ["5, 10,25.5", [5, 10, 25.5]],
      "telemetry.metrics.system.enabled": ["false", false],
      "telemetry.metrics.subscription-attribute": ["true", true],
      "telemetry.traces.sampling": ["0.01", 0.01],
      "telemetry.traces.trust-parent": ["yes", true],
      "telemetry.traces.response-header": ["Trace-Id", "trace-id"],
      "telemetry.logs.std": ["none", "none"],
      "telemetry.logs.std.level": ["warn", "warn"],
      "telemetry.logs.otlp.enabled": ["on", true],
      "telemetry.logs.buffer": ["1MiB", 1024 * 1024],
      "cache.redis.url": ["redis://r:6379/0", "redis://r:6379/0"],
      "cache.redis.password": ["pw", "pw"],
      "cache.redis.password-file": ["/run/secrets/redis", "/run/secrets/redis"],
      "cache.redis.sentinel.master-name": ["mymaster", "mymaster"],
      "cache.redis.sentinel.nodes": ["s1:26379,s2:26379", [{ host: "s1", port: 26379 }, { host: "s2", port: 26379 }]],
      "cache.redis.sentinel.password": ["spw", "spw"],
      "cache.redis.cluster.nodes": ["c1:7000", [{ host: "c1", port: 7000 }]],
      "cache.redis.timeout": ["25ms", 25],
      "cache.redis.key-prefix": ["edge:", "edge:"],
      "cache.redis.prefetch": ["0", 0],
      "policy.state.max-bytes": ["512MiB", 512 * 1024 * 1024],
      "policy.body.max-buffered": ["2097152", 2 * 1024 * 1024],
      "cache.internal.max-bytes": ["256MiB", 256 * 1024 * 1024],
      "cache.entry.max-bytes": ["64KiB", 64 * 1024],
      "net.client.tls.max-pools": ["16", 16],
      "net.client.proxy.http": ["http://u:p@proxy:3128", { origin: "http://proxy:3128", authorization: "Basic dTpw" }],
      "net.client.proxy.https": ["proxy:3128", { origin: "http://proxy:3128", authorization: undefined }],
      "net.client.proxy.no-proxy": [".internal:8080", [{ kind: "domain", name: "internal", port: 8080 }]],
    };
    assert.deepEqual(Object.keys(samples).sort(), [...SETTING_KEYS].sort(), "a sample for every setting");
    // One Redis topology at a time, and one source of its password: the others are read in turns.
    const turns = [
      ["cache.redis.sentinel.master-name", "cache.redis.sentinel.nodes", "cache.redis.sentinel.password", "cache.redis.password"],
      ["cache.redis.cluster.nodes"],
      ["cache.redis.url", "cache.redis.password-file"],
    ];
    for (const turn of turns) {
      const keys = Object.keys(samples).filter((key) => !turns.flat().includes(key) || turn.includes(key));
      const env = Object.fromEntries(keys.map((key) => [envName(key), samples[key]![0]]));
      const result = resolveSettings(undefined, env);
      if (!result.ok) assert.fail(result.problems.map(formatProblem).join("\n"));
      for (const key of keys) assert.deepEqual(result.settings[key as keyof Settings], samples[key]![1], key);
      assert.deepEqual(result.warnings, []);
    }
  });

  it("wins over the settings file, key by key", () => {
    const settings = settingsOf(
      { "net.server.http.port": 9000, net: { management: { port: 9090 } }, "gateway.name": "from-file" },
      { PORTICO_NET_SERVER_HTTP_PORT: "7000", PORTICO_GATEWAY_NAME: "from-env" },
    );
    assert.equal(settings["net.server.http.port"], 7000);
    assert.equal(settings["gateway.name"], "from-env");
    assert.equal(settings["net.management.port"], 9090);
  });

  it("does not let an empty variable hide the file's value", () => {
    const settings = settingsOf({ "net.server.http.port": 9000 }, { PORTICO_NET_SERVER_HTTP_PORT: "" });
    assert.equal(settings["net.server.http.port"], 9000);
  });

  it("loses to overrides", () => {
    const result = resolveSettings({ "net.server.http.port": 1 }, { PORTICO_NET_SERVER_HTTP_PORT: "2" }, { "net.server.http.port": 3 });
    assert.ok(result.ok);
    assert.equal(result.settings["net.server.http.port"], 3);
  });

  it("warns about unknown PORTICO_ variables, naming them but not their values, and ignores other variables", () => {
    const result = resolveSettings(undefined, {
      PORTICO_NET_SERVER_HTTP_PROT: "9000",
      PORTICO_CONFIG_SERVICE_AUTHH: "GatewayKey t0p-s3cret",
      PATH: "/usr/bin",
      HOME: undefined,
      portico_gateway_name: "lower-case is not ours",
    });
    assert.ok(result.ok);
    assert.equal(result.warnings.length, 2);
    assert.match(result.warnings[0]!, /PORTICO_NET_SERVER_HTTP_PROT/);
    assert.match(result.warnings[1]!, /PORTICO_CONFIG_SERVICE_AUTHH/);
    assert.ok(!result.warnings.join("\n").includes("t0p-s3cret"));
    assert.equal(result.settings["net.server.http.port"], 8080);
    assert.equal(result.settings["gateway.name"], hostname());
  });
});

describe("resolveSettings: other names", () => {
  it("takes the contract's first name for the OTLP endpoint and APIM's observability keys, in the file and as variables", () => {
    const fromFile = settingsOf({
      telemetry: { metrics: { otlp: { endpoint: "http://old:4318" } } },
      observability: { opentelemetry: { enabled: false, histogram: { buckets: "5,10" }, "system-metrics": { enabled: "false" } } },
    });
    assert.equal(fromFile["telemetry.otlp.endpoint"], "http://old:4318");
    assert.equal(fromFile["telemetry.otlp.enabled"], false);
    assert.deepEqual(fromFile["telemetry.metrics.histogram.buckets"], [5, 10]);
    assert.equal(fromFile["telemetry.metrics.system.enabled"], false);
    const fromEnv = settingsOf(undefined, { PORTICO_OBSERVABILITY_OPENTELEMETRY_COLLECTOR_URI: "https://collector:4318" });
    assert.equal(fromEnv["telemetry.otlp.endpoint"], "https://collector:4318");
  });

  it("refuses a key and its alias given different values at the same level, and names the alias in a bad value", () => {
    assert.deepEqual(
      problemsOf({ "telemetry.otlp.endpoint": "http://a:4318", "observability.opentelemetry.collector.uri": "http://b:4318" }),
      ["telemetry.otlp.endpoint: given twice with different values, as telemetry.otlp.endpoint and as observability.opentelemetry.collector.uri (use one name)"],
    );
    assert.deepEqual(problemsOf({ "observability.opentelemetry.enabled": "maybe" }), [
      'telemetry.otlp.enabled: expected true or false (as observability.opentelemetry.enabled) (got "maybe")',
    ]);
    // The environment still wins over the file, whichever name each uses.
    const settings = settingsOf({ "telemetry.otlp.endpoint": "http://a:4318" }, { PORTICO_TELEMETRY_METRICS_OTLP_ENDPOINT: "http://b:4318" });
    assert.equal(settings["telemetry.otlp.endpoint"], "http://b:4318");
  });

  it("nests a map under a key that is also a setting's name (telemetry.logs.std and telemetry.logs.std.level)", () => {
    const settings = settingsOf({ telemetry: { logs: { std: { level: "debug" } } } });
    assert.equal(settings["telemetry.logs.std.level"], "debug");
    assert.equal(settings["telemetry.logs.std"], "json");
  });

  it("refuses bad buckets, ratios and header lists, never echoing header values", () => {
    assert.deepEqual(problemsOf({ "telemetry.metrics.histogram.buckets": "10,5", "telemetry.traces.sampling": 1.5 }), [
      'telemetry.metrics.histogram.buckets: expected increasing positive numbers of milliseconds, such as 5,10,25,50 (got "10,5")',
      "telemetry.traces.sampling: expected a number from 0 to 1, such as 0.01 (got 1.5)",
    ]);
    const problems = problemsOf(undefined, { PORTICO_TELEMETRY_OTLP_HEADERS: "secret-token-without-a-name" });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^telemetry\.otlp\.headers: expected name=value pairs/);
    assert.ok(!problems[0]!.includes("secret-token"));
  });
});

describe("resolveSettings: bad values", () => {
  it("reports every bad value at once, naming the key, the variable and the value seen", () => {
    assert.deepEqual(
      problemsOf(
        { "net.management.port": 70000, "config.backup.enabled": "maybe" },
        {
          PORTICO_NET_SERVER_HTTP_PORT: "eighty",
          PORTICO_CONFIG_SYNC_INTERVAL: "soon",
          PORTICO_CONFIG_SERVICE_ENDPOINT: "ftp://cp",
          PORTICO_TELEMETRY_LOGS_STD: "xml",
          PORTICO_NET_SERVER_TLS_MIN_VERSION: "TLSv1.4",
          PORTICO_CACHE_REDIS_URL: "http://redis",
        },
      ),
      [
        'config.service.endpoint: expected a URL starting with http:// or https:// (from PORTICO_CONFIG_SERVICE_ENDPOINT) (got "ftp://cp")',
        'config.sync.interval: expected a positive duration such as "500ms", "10s" or "1m" (from PORTICO_CONFIG_SYNC_INTERVAL) (got "soon")',
        'config.backup.enabled: expected true or false (got "maybe")',
        'net.server.http.port: expected a port number from 0 to 65535 (from PORTICO_NET_SERVER_HTTP_PORT) (got "eighty")',
        'net.server.tls.min-version: expected one of TLSv1.2, TLSv1.3, TLSv1.1, TLSv1 (from PORTICO_NET_SERVER_TLS_MIN_VERSION) (got "TLSv1.4")',
        "net.management.port: expected a port number from 0 to 65535 (got 70000)",
        'telemetry.logs.std: expected one of json, text, none (from PORTICO_TELEMETRY_LOGS_STD) (got "xml")',
        'cache.redis.url: expected a URL starting with redis:// or rediss:// (from PORTICO_CACHE_REDIS_URL) (got "http://redis")',
      ],
    );
  });

  it("refuses ports that are not whole numbers from 0 to 65535", () => {
    for (const bad of ["-1", "65536", "80.5", "0x50", "1e3", "80 80", -1, 65536, 80.5, true]) {
      const found = problemsOf({ "net.server.http.port": bad });
      assert.equal(found.length, 1, String(bad));
      assert.match(found[0]!, /^net\.server\.http\.port: expected a port number from 0 to 65535 \(got /, String(bad));
    }
    assert.equal(settingsOf({}, { PORTICO_NET_SERVER_HTTP_PORT: " 8088 " })["net.server.http.port"], 8088);
  });

  it("reads sizes as bytes or with a binary unit, and refuses others or ones out of range", () => {
    const settings = settingsOf({ policy: { state: { "max-bytes": "1GiB" }, body: { "max-buffered": 3 * 1024 * 1024 } } });
    assert.equal(settings["policy.state.max-bytes"], 1024 ** 3);
    assert.equal(settings["policy.body.max-buffered"], 3 * 1024 * 1024);
    assert.equal(settingsOf({ "policy.state.max-bytes": " 2048 KiB " })["policy.state.max-bytes"], 2 * 1024 * 1024);
    for (const bad of ["64MB", "1.5MiB", "-1MiB", "512KiB", "65GiB", "lots", 1.5, true]) {
      const found = problemsOf({ "policy.state.max-bytes": bad });
      assert.equal(found.length, 1, String(bad));
      assert.match(found[0]!, /^policy\.state\.max-bytes: expected a size from 1MiB to 64GiB, such as "64MiB" \(a bare number is bytes\) \(got /, String(bad));
    }
    for (const bad of ["0", 0, "1.5", "ten", 100_001]) {
      assert.match(problemsOf({ "net.client.tls.max-pools": bad })[0]!, /expected a whole number from 1 to 100000/, String(bad));
    }
  });

  it("refuses zero and negative intervals", () => {
    assert.deepEqual(problemsOf({ "config.heartbeat.interval": "0s", "config.sync.interval": -5 }), [
      'config.sync.interval: expected a positive duration such as "500ms", "10s" or "1m" (got -5)',
      'config.heartbeat.interval: expected a positive duration such as "500ms", "10s" or "1m" (got "0s")',
    ]);
  });

  it("refuses a list or a map where one value is expected", () => {
    assert.deepEqual(problemsOf({ "gateway.name": { first: "a" }, "config.backup.path": ["a", "b"], "net.server.http.port": [8080] }), [
      "gateway.name: expected a single value, not a list or a map (got a map)",
      "config.backup.path: expected a single value, not a list or a map (got a list)",
      "net.server.http.port: expected a port number from 0 to 65535 (got a list)",
    ]);
  });
});

describe("resolveSettings: secrets", () => {
  it("hands the token over but never shows it in a problem", () => {
    assert.equal(settingsOf({}, { PORTICO_CONFIG_SERVICE_AUTH: "GatewayKey t0p-s3cret" })["config.service.auth"], "GatewayKey t0p-s3cret");
    const result = resolveSettings({ "config.service.auth": { token: "t0p-s3cret" }, "net.server.http.port": "bad" }, {});
    assert.equal(result.ok, false);
    const text = JSON.stringify(result);
    assert.ok(!text.includes("t0p-s3cret"), text);
    if (!result.ok) {
      assert.equal(result.problems[0]!.path, "config.service.auth");
      assert.match(result.problems[0]!.message, /\(got a value that is not shown\)$/);
    }
  });

  it("never shows the credentials of a refused URL", () => {
    const [found] = problemsOf({}, { PORTICO_CONFIG_SERVICE_ENDPOINT: "ftp://gw:t0p-s3cret@cp.example.com" });
    assert.ok(!found!.includes("t0p-s3cret"), found);
    assert.match(found!, /\(got "ftp:\/\/\*\*\*@cp\.example\.com"\)$/);
  });
});

describe("resolveSettings: cipher suites", () => {
  it("names every unknown suite, and refuses an empty list", () => {
    const result = resolveSettings(
      { "net.server.tls.ciphers.allowed-suites": "TLS_AES_128_GCM_SHA256, ECDHE-RSA-AES128-GCM-SHA256, TLS_RSA_WITH_RC4_128_MD5" },
      {},
    );
    assert.ok(!result.ok);
    assert.match(
      formatProblem(result.problems[0]!),
      /^net\.server\.tls\.ciphers\.allowed-suites: unknown cipher suite "ECDHE-RSA-AES128-GCM-SHA256", "TLS_RSA_WITH_RC4_128_MD5" \(expected IANA names/,
    );
    const empty = resolveSettings({}, { PORTICO_NET_CLIENT_TLS_CIPHERS_ALLOWED_SUITES: " , " });
    assert.ok(!empty.ok);
    assert.match(formatProblem(empty.problems[0]!), /expected at least one cipher suite/);
  });
});

describe("resolveSettings: URLs with credentials", () => {
  it("refuses a control-plane endpoint with a user name or password, without showing the password", () => {
    const result = resolveSettings(undefined, { PORTICO_CONFIG_SERVICE_ENDPOINT: "https://edge:s3cret-pass@cp.example:8079" });
    assert.equal(result.ok, false);
    if (result.ok) return;
    const text = result.problems.map(formatProblem).join("\n");
    assert.match(text, /config\.service\.endpoint: must not carry a user name or password/);
    assert.doesNotMatch(text, /s3cret-pass/);
    assert.match(text, /\*\*\*@cp\.example/);
  });
});

describe("resolveSettings: Redis", () => {
  it("reads a URL, Sentinel or Cluster, the password's sources, the timeout, the prefix and the prefetch", () => {
    const single = settingsOf({ cache: { redis: { url: "rediss://:pw@cache.internal:6380", timeout: "20ms", "key-prefix": "edge-a:" } } });
    assert.equal(single["cache.redis.url"], "rediss://:pw@cache.internal:6380");
    assert.equal(single["cache.redis.timeout"], 20);
    assert.equal(single["cache.redis.key-prefix"], "edge-a:");
    const defaults = settingsOf({});
    assert.equal(defaults["cache.redis.timeout"], 50);
    assert.equal(defaults["cache.redis.key-prefix"], "portico:");
    assert.equal(defaults["cache.redis.prefetch"], 256);
    assert.equal(settingsOf({ cache: { redis: { prefetch: 100 } } })["cache.redis.prefetch"], 100);
    const sentinel = settingsOf({}, {
      PORTICO_CACHE_REDIS_SENTINEL_MASTER_NAME: "mymaster",
      PORTICO_CACHE_REDIS_SENTINEL_NODES: "s1:26379, s2, [::1]:26380",
      PORTICO_CACHE_REDIS_SENTINEL_PASSWORD: "sentinel-secret",
      PORTICO_CACHE_REDIS_PASSWORD: "node-secret",
    });
    assert.deepEqual(sentinel["cache.redis.sentinel.nodes"], [{ host: "s1", port: 26379 }, { host: "s2", port: 6379 }, { host: "::1", port: 26380 }]);
    assert.equal(sentinel["cache.redis.sentinel.password"], "sentinel-secret");
    assert.equal(sentinel["cache.redis.password"], "node-secret");
    const cluster = settingsOf({ "cache.redis.cluster.nodes": ["10.0.0.1:7000", "10.0.0.2:7000"], "cache.redis.password-file": "/run/secrets/redis" });
    assert.deepEqual(cluster["cache.redis.cluster.nodes"], [{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 7000 }]);
    assert.equal(cluster["cache.redis.password-file"], "/run/secrets/redis");
  });

  it("refuses bad values with their path, never showing a password", () => {
    assert.deepEqual(problemsOf({ "cache.redis.cluster.nodes": "a:1,b:99999", "cache.redis.timeout": "0ms", "cache.redis.prefetch": -1 }), [
      'cache.redis.cluster.nodes: expected host:port pairs separated by commas, such as redis-1:6379,redis-2:6379 (got "a:1,b:99999")',
      'cache.redis.timeout: expected a positive duration such as "500ms", "10s" or "1m" (got "0ms")',
      "cache.redis.prefetch: expected a whole number from 0 to 100000 (got -1)",
    ]);
    const secret = problemsOf({ "cache.redis.url": "redis://r:6379", "cache.redis.password": ["n0t-shown-pw"] });
    assert.deepEqual(secret, ["cache.redis.password: expected a single value, not a list or a map (got a value that is not shown)"]);
    assert.deepEqual(problemsOf({ "cache.redis.url": "http://:n0t-shown-pw@r" }), [
      'cache.redis.url: expected a URL starting with redis:// or rediss:// (got "http://***@r")',
    ]);
  });

  it("refuses settings that do not go together", () => {
    assert.deepEqual(problemsOf({ "cache.redis.url": "redis://r:6379", "cache.redis.cluster.nodes": "c:7000" }), [
      "cache.redis: give one Redis topology, not cache.redis.url and cache.redis.cluster.nodes",
    ]);
    assert.deepEqual(problemsOf({ "cache.redis.sentinel.master-name": "m" }), ["cache.redis.sentinel.nodes: needed with cache.redis.sentinel.master-name"]);
    assert.deepEqual(problemsOf({ "cache.redis.sentinel.nodes": "s:26379" }), ["cache.redis.sentinel.master-name: needed with cache.redis.sentinel.nodes"]);
    assert.deepEqual(problemsOf({ "cache.redis.url": "redis://r", "cache.redis.password": "a", "cache.redis.password-file": "/f" }), [
      "cache.redis.password-file: give the password or a file holding it, not both",
    ]);
    assert.deepEqual(problemsOf({ "cache.redis.password": "a" }), [
      "cache.redis.password: set without a Redis to use it for (cache.redis.url, sentinel or cluster)",
    ]);
    assert.deepEqual(problemsOf({ "cache.redis.url": "redis://r", "cache.redis.timeout": "11s" }), [
      "cache.redis.timeout: at most 10s: every request that counts through Redis may wait this long (got 11000 ms)",
    ]);
  });
});
