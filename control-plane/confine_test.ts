import assert from "node:assert/strict";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../test/harness.ts";
import { confineToFolder } from "./confine.ts";

/** DATA/config with a file and a folder inside, DATA/outside with a file, and links of both kinds. */
function layout() {
  const data = tempDir();
  const config = join(data, "config");
  mkdirSync(join(config, "certs"), { recursive: true });
  mkdirSync(join(data, "outside"));
  writeFileSync(join(config, "certs", "a.pem"), "inside");
  writeFileSync(join(data, "outside", "b.pem"), "outside");
  symlinkSync(join(data, "outside"), join(config, "out"));
  symlinkSync(join(data, "outside", "b.pem"), join(config, "b.pem"));
  symlinkSync("certs/a.pem", join(config, "a-link.pem"));
  return { data, config };
}

const refused = (folder: string, reference: string) => {
  const result = confineToFolder(folder, reference);
  assert.ok(!result.ok, `${reference} should be refused`);
  return result.message;
};

describe("file references confined to the configuration folder", () => {
  it("reads files inside the folder, by relative or absolute path, and through links that stay inside", () => {
    const { config } = layout();
    assert.deepEqual(confineToFolder(config, "certs/a.pem"), { ok: true, path: join(config, "certs", "a.pem") });
    assert.deepEqual(confineToFolder(config, "./certs/../certs/a.pem"), { ok: true, path: join(config, "certs", "a.pem") });
    assert.deepEqual(confineToFolder(config, join(config, "certs", "a.pem")), { ok: true, path: join(config, "certs", "a.pem") });
    assert.deepEqual(confineToFolder(config, "a-link.pem"), { ok: true, path: join(config, "certs", "a.pem") }, "the real path is what is read");
    assert.deepEqual(
      confineToFolder(config, "..config-like-name.pem"),
      { ok: true, path: join(config, "..config-like-name.pem") },
      "a name starting with two dots is not a parent",
    );
  });

  it("passes a missing file inside the folder on, for the reader to report", () => {
    const { config } = layout();
    assert.deepEqual(confineToFolder(config, "certs/none.pem"), { ok: true, path: join(config, "certs", "none.pem") });
  });

  it("refuses .., an absolute path elsewhere, and links that lead out (to a file, a folder, or a missing file in one)", () => {
    const { data, config } = layout();
    assert.equal(
      refused(config, "../outside/b.pem"),
      `../outside/b.pem is outside the configuration folder ${config} (it resolves to ${
        join(data, "outside", "b.pem")
      }); the control plane reads only files inside it`,
    );
    assert.equal(refused(config, "/etc/hostname"), `/etc/hostname is outside the configuration folder ${config}; the control plane reads only files inside it`);
    assert.match(refused(config, "../state/admin-token"), /it resolves to \S+\/state\/admin-token/);
    assert.match(refused(config, "b.pem"), new RegExp(`\\(a symbolic link leads to ${join(data, "outside", "b.pem")}\\)`));
    assert.match(refused(config, "out/b.pem"), new RegExp(`\\(a symbolic link leads to ${join(data, "outside", "b.pem")}\\)`));
    assert.match(refused(config, "out/missing.pem"), new RegExp(`\\(a symbolic link leads to ${join(data, "outside")}\\)`));
  });
});
