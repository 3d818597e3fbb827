// The package as an npm user gets it: `npm pack`, installed from the
// tarball into a throw-away project outside client/js, imported under
// Node.js and type-checked by a TypeScript consumer with the
// "bundler" and "node16" module resolutions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const tsc = path.resolve(here, "../../node_modules/typescript/bin/tsc");

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } });
}

/** tsc's result on the consumer project: its exit code and output. */
function typeCheck(dir, project) {
  try {
    return { code: 0, out: run(process.execPath, [tsc, "-p", project], dir) };
  } catch (err) {
    return { code: err.status, out: `${err.stdout}${err.stderr}` };
  }
}

const consumerTS = `import { dial, MemoryStore, WschatError, State, type StateChange, type Event } from "@wschat/client";

export async function main(url: string): Promise<number> {
  const client = await dial(url, {
    store: new MemoryStore(),
    onState: (s: StateChange) => console.log(s.from, s.to === State.Connected),
  });
  const sub = await client.join("general");
  sub.on((ev: Event) => { if (ev.type === "message") console.log(ev.message.text.toUpperCase()); });
  try {
    return await client.send("general", "hi");
  } catch (err) {
    if (err instanceof WschatError) console.log(err.code);
    throw err;
  }
}
`;

test("npm pack → install → import and type-check as a consumer", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "wschat-pack-"));
  try {
    const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", tmp], here));
    assert.equal(packed.name, "@wschat/client");
    assert.match(packed.version, /^0\.\d+\.\d+$/);
    assert.deepEqual(packed.files.map((f) => f.path).sort(), ["LICENSE", "README.md", "package.json", "wschat.d.ts", "wschat.js"]);

    const app = path.join(tmp, "app");
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    run("npm", ["install", "--offline", "--no-audit", "--no-fund", path.join(tmp, packed.filename)], app);

    // Node.js imports it by name, through "exports".
    const out = run(process.execPath, ["--input-type=module", "-e", `
      import * as m from "@wschat/client";
      import pkg from "@wschat/client/package.json" with { type: "json" };
      const names = ["dial", "Client", "Subscription", "MemoryStore", "LocalStorageStore", "WschatError", "ServerError", "State"];
      for (const n of names) if (!(n in m)) throw new Error("missing export " + n);
      // Node.js 20 has no global WebSocket: dial says how to pass one.
      try { await m.dial("ws://127.0.0.1:1/dev"); throw new Error("dial without a WebSocket succeeded"); }
      catch (e) { if (!(e instanceof m.WschatError) || e.code !== "invalid") throw e; }
      console.log(pkg.name, pkg.version, Object.keys(m).length);
    `], app);
    assert.match(out, /^@wschat\/client 0\.\d+\.\d+ \d+/);

    // TypeScript finds the declarations through "exports" → "types".
    fs.writeFileSync(path.join(app, "consumer.ts"), consumerTS);
    for (const resolution of ["bundler", "node16"]) {
      const module = resolution === "bundler" ? "esnext" : "node16";
      fs.writeFileSync(path.join(app, `tsconfig.${resolution}.json`), JSON.stringify({
        compilerOptions: { target: "ES2022", module, moduleResolution: resolution, lib: ["ES2022", "DOM"], strict: true, noEmit: true, types: [] },
        files: ["consumer.ts"],
      }));
      const ok = typeCheck(app, `tsconfig.${resolution}.json`);
      assert.equal(ok.code, 0, `tsc (${resolution}):\n${ok.out}`);
    }
    // The positive control: a misuse of the declared types must fail, or
    // the check above could pass on a package whose types are never read.
    fs.writeFileSync(path.join(app, "consumer.ts"), consumerTS + `\nexport const wrong: number = dial;\n`);
    const bad = typeCheck(app, "tsconfig.bundler.json");
    assert.notEqual(bad.code, 0, "tsc accepted a misuse of dial");
    assert.match(bad.out, /TS2322/, `tsc:\n${bad.out}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
