import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ControlPlaneProcess, createToken, startControlPlane, startFleetGateway } from "../../test/control-plane.ts";
import type { GatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

const SWAPS = 100;

describe("hitless swaps from the control plane", { timeout: 180_000 }, () => {
  let upstream: Upstream;
  let plane: ControlPlaneProcess;
  let gw: GatewayProcess;
  /** Ends the long streaming response the test keeps open across every swap. */
  let endStream: () => void = () => {};

  // Each revision changes a policy parameter, so every swap makes a new policy instance and retires the old one.
  const config = (revision: number) => `
apis:
  - name: s
    path: /s
    backend: up
    policies:
      outbound: [ { policy: set-header, with: { name: x-rev, value: "${revision}" } } ]
backends:
  up: { urls: ["${upstream.url}"] }
`;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/plain" });
        const timer = setInterval(() => res.write("tick\n"), 50);
        endStream = () => {
          clearInterval(timer);
          res.end("end\n");
        };
        return;
      }
      res.end("ok");
    });
    plane = await startControlPlane({ files: { "s.yaml": config(0) }, watchInterval: "20ms" });
    gw = await startFleetGateway(plane, await createToken(plane.dataDir, "edge"), {
      env: { PORTICO_CONFIG_SYNC_INTERVAL: "20ms", PORTICO_TELEMETRY_LOGS_STD: "none" },
    });
  });

  after(async () => {
    endStream();
    await gw?.stop();
    await plane?.stop();
    await upstream?.close();
  });

  it(`makes ${SWAPS} swaps under continuous load with no failed request, and a long response started before them finishes`, async () => {
    const stream = await fetch(`${gw.url}/s/stream`);
    assert.equal(stream.headers.get("x-rev"), "0");
    const body = stream.text();

    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (!stop) {
        try {
          const res = await fetch(`${gw.url}/s/x`);
          const text = await res.text();
          if (res.status === 200 && text === "ok") ok += 1;
          else failures.push(`${res.status} ${text.slice(0, 200)}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);

    const started = Date.now();
    for (let revision = 1; revision <= SWAPS; revision++) {
      plane.writeConfig("s.yaml", config(revision));
      const deadline = Date.now() + 5_000;
      for (;;) {
        const res = await fetch(`${gw.url}/s/x`);
        await res.body?.cancel();
        if (res.headers.get("x-rev") === String(revision)) break;
        if (Date.now() > deadline) assert.fail(`revision ${revision} not live within 5 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const took = Date.now() - started;
    stop = true;
    await Promise.all(workers);
    endStream();
    const text = await body;

    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed requests`);
    assert.ok(ok > SWAPS, `only ${ok} requests completed during the swaps`);
    assert.ok(text.endsWith("end\n") && text.split("tick").length > 2, "the long response streamed to its end");
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`portico_config_applied_total ${SWAPS + 1}\\b`));
    console.log(`${SWAPS} swaps in ${took} ms under load; ${ok} requests, 0 failed; one response streamed across all of them`);
  });
});
