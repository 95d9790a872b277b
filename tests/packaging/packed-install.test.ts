// The published packages as a user gets them: every public package packed with `pnpm pack` (so
// `workspace:^` ranges become real ones), installed with npm into fresh projects outside the workspace,
// next to the real peers from the registry. Four projects: CommonJS (`require`), ESM (`import`),
// TypeScript CommonJS (`module: node16`, the NestJS default) and TypeScript ESM (`module: nodenext`),
// each getting a replay from run() on the memory store and on SQLite, and over real HTTP through
// @idemkit/express on Express 5.
//
// One `npm install` serves the four: they are the workspaces of one temporary npm project, so their
// common dependencies are installed once. The packages must be built (turbo builds them before this
// package's tests); this test builds nothing itself. The SQLite binding: better-sqlite3's JavaScript
// comes from the registry; its native binary, which npm would download from GitHub or compile for a
// minute, is the workspace's build of the same version, handed to prebuild-install as a local prebuild.
import { execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);

/**
 * The version of a dependency the workspace tests with: the projects install exactly it. Read from the
 * tests workspace's `node_modules` (or the root's), not through `require.resolve`: a package whose
 * `exports` do not list `./package.json` (hono) refuses that.
 */
const versionOf = (name: string): string => {
  const manifest = [join(repo, "tests", "node_modules"), join(repo, "node_modules")]
    .map((modules) => join(modules, name, "package.json"))
    .find((file) => existsSync(file));
  if (manifest === undefined) throw new Error(`${name} is not installed in the workspace`);
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
};

/** The public packages, by directory. */
const published = readdirSync(join(repo, "packages"))
  .map((dir) => ({
    dir: join(repo, "packages", dir),
    manifest: readJson(join(repo, "packages", dir, "package.json")),
  }))
  .filter(({ manifest }) => manifest.private !== true)
  .map(({ dir, manifest }) => ({ dir, name: manifest.name as string }));

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

function writeJson(file: string, value: unknown) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

// npm and the apps run without the npm_* settings pnpm hands its scripts.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^npm_|^pnpm_|^NODE_OPTIONS$/i.test(name)),
);

/** How long `npm install` of the packed packages may take. */
const INSTALL_TIMEOUT_MS = 360_000;

interface Ran {
  code: number;
  output: string;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  extraEnv: NodeJS.ProcessEnv = {},
  timeoutMs = 150_000,
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: { ...env, ...extraEnv }, maxBuffer: 16 * 1024 * 1024, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        // Killed by the timeout, the output alone (npm's warnings, say) would not tell why it failed.
        const killed = error?.killed ? `\n(killed after ${timeoutMs / 1000} s)` : "";
        resolve({ code, output: `${stdout}${stderr}${killed}` });
      },
    );
  });
}

async function mustRun(command: string, args: string[], cwd: string, extraEnv?: NodeJS.ProcessEnv) {
  const ran = await run(command, args, cwd, extraEnv);
  if (ran.code !== 0)
    throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${ran.code}:\n${ran.output}`);
  return ran.output;
}

// ---------------------------------------------------------------------------------------------------
// The apps. The JavaScript one is the same program with `require` or `import`; so is the TypeScript one.

const jsRequires = `"use strict";
const assert = require("node:assert/strict");
const { once } = require("node:events");
const { createIdempotency, createMemoryStore, REPLAYED_HEADER } = require("@idemkit/core");
const { createSqliteStore } = require("@idemkit/sqlite");
const { idempotency } = require("@idemkit/express");
const express = require("express");
const Database = require("better-sqlite3");
`;

const jsImports = `import assert from "node:assert/strict";
import { once } from "node:events";
import { createRequire } from "node:module";
import { createIdempotency, createMemoryStore, REPLAYED_HEADER } from "@idemkit/core";
import { createSqliteStore } from "@idemkit/sqlite";
import { idempotency } from "@idemkit/express";
import express from "express";
import Database from "better-sqlite3";
`;

const jsBody = `
async function replayThroughRun(store, label) {
  const idem = createIdempotency({ store });
  let runs = 0;
  const charge = () =>
    idem.execute({ key: "charge-1", input: { amount: 10 } }, async ({ fence }) => ({ charged: 10, run: ++runs, fence }));
  const first = await charge();
  const retry = await charge();
  assert.equal(first.replayed, false);
  assert.equal(retry.replayed, true);
  assert.deepEqual(retry.value, first.value);
  assert.equal(runs, 1);
  console.log("replayed: run() on " + label);
}

async function replayOverHttp(store, middleware, label) {
  const idem = createIdempotency({ store });
  const app = express();
  app.use(express.json());
  app.use(middleware(idem, { scope: "global" }));
  let runs = 0;
  app.post("/orders", (req, res) => {
    runs++;
    res.status(201).json({ id: "order-" + runs, ...req.body, fence: res.locals.idempotency.fence });
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const post = () =>
      fetch("http://127.0.0.1:" + server.address().port + "/orders", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "order-1" },
        body: JSON.stringify({ item: "book" }),
      });
    const first = await post();
    const retry = await post();
    assert.equal(first.status, 201);
    assert.equal(retry.status, 201);
    assert.equal(first.headers.get(REPLAYED_HEADER), null);
    assert.equal(retry.headers.get(REPLAYED_HEADER), "true");
    assert.deepEqual(await retry.json(), await first.json());
    assert.equal(runs, 1);
    console.log("replayed: HTTP through " + label);
  } finally {
    server.close();
  }
}

async function main(databaseFile, more) {
  await replayThroughRun(createMemoryStore(), "the memory store");
  const database = new Database(databaseFile);
  try {
    const sqlite = createSqliteStore({ database });
    await replayThroughRun(sqlite, "SQLite");
    await replayOverHttp(sqlite, idempotency, "@idemkit/express on SQLite");
    await replayOverHttp(createMemoryStore(), idempotency, "@idemkit/express on the memory store");
    if (more) await more();
  } finally {
    database.close();
  }
}
`;

const cjsApp = `${jsRequires}${jsBody}
main(process.argv[2]).then(
  () => console.log("done"),
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
`;

const esmApp = `${jsImports}${jsBody}
// The dual-package case: this ESM app's core instance handed to the CommonJS build of @idemkit/express
// (and so of @idemkit/node and @idemkit/core), as a CommonJS library inside an ESM app would do.
const requireCjs = createRequire(import.meta.url);
await main(process.argv[2], () =>
  replayOverHttp(createMemoryStore(), requireCjs("@idemkit/express").idempotency, "the CommonJS @idemkit/express from ESM"),
);
console.log("done");
`;

const tsApp = `import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import {
  createIdempotency,
  createMemoryStore,
  type HandlerContext,
  type IdempotencyStore,
  REPLAYED_HEADER,
  type RunResult,
} from "@idemkit/core";
import { createSqliteStore, type SqliteStoreOptions } from "@idemkit/sqlite";
import { idempotency } from "@idemkit/express";
import express, { type Request, type Response } from "express";
import Database from "better-sqlite3";

interface Receipt {
  charged: number;
  run: number;
  fence: number;
}

async function replayThroughRun(store: IdempotencyStore, label: string): Promise<void> {
  const idem = createIdempotency({ store });
  let runs = 0;
  const charge = (): Promise<RunResult<Receipt>> =>
    idem.execute<Receipt>({ key: "charge-1", input: { amount: 10 } }, async ({ fence }) => ({
      charged: 10,
      run: ++runs,
      fence,
    }));
  const first = await charge();
  const retry = await charge();
  assert.equal(first.replayed, false);
  assert.equal(retry.replayed, true);
  assert.deepEqual(retry.value, first.value);
  assert.equal(runs, 1);
  console.log(\`replayed: run() on \${label}\`);
}

async function replayOverHttp(store: IdempotencyStore, label: string): Promise<void> {
  const idem = createIdempotency({ store });
  const app = express();
  app.use(express.json());
  app.use(idempotency(idem, { scope: (req: Request) => req.get("x-account") }));
  let runs = 0;
  app.post("/orders", (req: Request, res: Response) => {
    runs++;
    const context: HandlerContext | undefined = res.locals.idempotency;
    res.status(201).json({ id: \`order-\${runs}\`, ...req.body, fence: context?.fence });
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const { port } = server.address() as AddressInfo;
    const post = () =>
      fetch(\`http://127.0.0.1:\${port}/orders\`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "order-1", "x-account": "acct-1" },
        body: JSON.stringify({ item: "book" }),
      });
    const first = await post();
    const retry = await post();
    assert.equal(first.status, 201);
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get(REPLAYED_HEADER), "true");
    assert.deepEqual(await retry.json(), await first.json());
    assert.equal(runs, 1);
    console.log(\`replayed: HTTP through \${label}\`);
  } finally {
    server.close();
  }
}

async function main(databaseFile: string): Promise<void> {
  await replayThroughRun(createMemoryStore(), "the memory store");
  const database = new Database(databaseFile);
  try {
    const options: SqliteStoreOptions = { database };
    const sqlite = createSqliteStore(options);
    await replayThroughRun(sqlite, "SQLite");
    await replayOverHttp(sqlite, "@idemkit/express on SQLite");
    await replayOverHttp(createMemoryStore(), "@idemkit/express on the memory store");
  } finally {
    database.close();
  }
}

main(process.argv[2] ?? "keys.db").then(
  () => console.log("done"),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
`;

// Every package, loaded both ways. @idemkit/conformance imports vitest, which refuses require():
// its CommonJS build exists for TypeScript's sake (a CommonJS test file importing it type-checks),
// and it runs inside vitest, which imports it.
const loadAll = (names: string[]) => `"use strict";
const names = ${JSON.stringify(names)};
(async () => {
  for (const name of names) {
    let required;
    try {
      required = Object.keys(require(name)).length;
    } catch (error) {
      if (!(name === "@idemkit/conformance" && /Vitest cannot be imported in a CommonJS module/.test(error.message))) throw error;
      required = "vitest refuses require()";
    }
    const imported = Object.keys(await import(name)).length;
    console.log("loaded " + name + ": require " + required + ", import " + imported);
  }
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;

const tsconfig = (module: string, moduleResolution: string) => ({
  compilerOptions: {
    target: "ES2022",
    module,
    moduleResolution,
    strict: true,
    esModuleInterop: true,
    skipLibCheck: false,
    types: ["node"],
    rootDir: "src",
    outDir: "dist",
  },
  include: ["src"],
});

// ---------------------------------------------------------------------------------------------------

// Each case compiles with tsc or starts Node on every package: with the rest of the suite running beside
// it on two cores that can take well over the default 30 s, so each gets the child processes' own bound.
describe("the packed packages, installed with npm outside the workspace", { timeout: 150_000 }, () => {
  let root = "";
  let project = "";
  let skipped: string | false = false;
  const started = performance.now();

  beforeAll(async () => {
    for (const { dir, name } of published) {
      if (!existsSync(join(dir, "dist/cjs/index.js")) || !existsSync(join(dir, "dist/esm/index.js")))
        throw new Error(`${name} is not built (no dist/cjs or dist/esm): run pnpm build first`);
    }
    // No registry, no test: said on a visible line (and a failure where IDEMKIT_REQUIRE names npm-registry).
    const ping = await run("npm", ["ping", "--fetch-retries=0", "--fetch-timeout=10000"], tmpdir());
    if (ping.code !== 0) {
      const why = ping.output
        .split("\n")
        .find((line) => /npm error (code|.*(fetch|request|ENOTFOUND))/.test(line));
      skipped = skipUnlessAvailable(
        "npm-registry",
        `npm ping failed (${why ?? `exit ${ping.code}`}): nothing was packed or installed`,
      );
      return;
    }
    root = mkdtempSync(join(tmpdir(), "idemkit-packed-"));
    const tarballs = join(root, "tarballs");
    project = join(root, "project");
    mkdirSync(tarballs);

    // pnpm pack, two at a time (two cores).
    const queue = [...published];
    const packer = async () => {
      for (let next = queue.shift(); next; next = queue.shift())
        await mustRun("pnpm", ["pack", "--pack-destination", tarballs], next.dir);
    };
    await Promise.all([packer(), packer()]);
    const packed = performance.now();
    const tarball = Object.fromEntries(
      published.map(({ name }) => {
        const file = readdirSync(tarballs).find((f) => f.startsWith(`${name.slice(1).replace("/", "-")}-`));
        if (!file) throw new Error(`pnpm pack made no tarball for ${name}`);
        return [name, `file:${join(tarballs, file)}`];
      }),
    );

    // The workspace's versions of the peers and tools (Express 5, better-sqlite3 12).
    const versions = Object.fromEntries(
      [
        "better-sqlite3",
        "express",
        "typescript",
        "@types/node",
        "@types/express",
        "@types/better-sqlite3",
        "ioredis",
        "pg",
        "mongodb",
        "mysql2",
        "@aws-sdk/client-dynamodb",
        "fastify",
        "hono",
        "koa",
        "vitest",
        "@nestjs/common",
        "@nestjs/core",
        "reflect-metadata",
        "rxjs",
      ].map((name) => [name, versionOf(name)]),
    );
    expect(versions["better-sqlite3"]).toMatch(/^12\./);
    expect(versions.express).toMatch(/^5\./);

    // What each project's user would list: the packages it uses and their peers.
    const uses = {
      "@idemkit/core": tarball["@idemkit/core"],
      "@idemkit/sqlite": tarball["@idemkit/sqlite"],
      "@idemkit/express": tarball["@idemkit/express"],
      "better-sqlite3": versions["better-sqlite3"],
      express: versions.express,
    };
    const typed = {
      typescript: versions.typescript,
      "@types/node": versions["@types/node"],
      "@types/express": versions["@types/express"],
      "@types/better-sqlite3": versions["@types/better-sqlite3"],
    };
    const projects = {
      cjs: { type: "commonjs", dependencies: uses },
      esm: { type: "module", dependencies: uses },
      "ts-cjs": { type: "commonjs", dependencies: { ...uses, ...typed } },
      "ts-esm": { type: "module", dependencies: { ...uses, ...typed } },
    };
    // The root stands in for the registry (express's dependency @idemkit/node resolves to its tarball)
    // and installs every package with its peers, for the loading check; its versions of the peers are
    // the projects' ones, so each is installed once (npm would otherwise add the newest as a peer).
    writeJson(join(project, "package.json"), {
      name: "idemkit-packed-install",
      private: true,
      workspaces: Object.keys(projects),
      dependencies: {
        ...tarball,
        "better-sqlite3": versions["better-sqlite3"],
        express: versions.express,
        ioredis: versions.ioredis,
        pg: versions.pg,
        mongodb: versions.mongodb,
        mysql2: versions.mysql2,
        "@aws-sdk/client-dynamodb": versions["@aws-sdk/client-dynamodb"],
        fastify: versions.fastify,
        hono: versions.hono,
        koa: versions.koa,
        vitest: versions.vitest,
        "@nestjs/common": versions["@nestjs/common"],
        "@nestjs/core": versions["@nestjs/core"],
        "reflect-metadata": versions["reflect-metadata"],
        rxjs: versions.rxjs,
      },
      allowScripts: { "better-sqlite3": true },
    });
    for (const [name, { type, dependencies }] of Object.entries(projects))
      writeJson(join(project, name, "package.json"), {
        name: `app-${name}`,
        private: true,
        type,
        dependencies,
      });

    writeFileSync(join(project, "cjs", "app.js"), cjsApp);
    writeFileSync(join(project, "cjs", "load-all.js"), loadAll(published.map(({ name }) => name)));
    writeFileSync(join(project, "esm", "app.js"), esmApp);
    for (const [name, module] of [
      ["ts-cjs", "node16"],
      ["ts-esm", "nodenext"],
    ] as const) {
      mkdirSync(join(project, name, "src"));
      writeFileSync(join(project, name, "src", "app.ts"), tsApp);
      writeJson(join(project, name, "tsconfig.json"), tsconfig(module, module));
    }
    // The two other resolutions TypeScript users have, type-checked on the same code.
    writeJson(join(project, "ts-cjs", "tsconfig.commonjs.json"), {
      extends: "./tsconfig.json",
      compilerOptions: { module: "commonjs", moduleResolution: "node10", noEmit: true },
    });
    writeJson(join(project, "ts-esm", "tsconfig.bundler.json"), {
      extends: "./tsconfig.json",
      compilerOptions: { module: "esnext", moduleResolution: "bundler", noEmit: true },
    });

    // better-sqlite3's native binary as a local prebuild (see the top of this file); without it (another
    // platform, another version) npm downloads or compiles one.
    const prebuilds = join(root, "prebuilds");
    mkdirSync(prebuilds);
    const bindingDir = dirname(require.resolve("better-sqlite3/package.json"));
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
      ?.header?.glibcVersionRuntime;
    if (
      existsSync(join(bindingDir, "build/Release/better_sqlite3.node")) &&
      (process.platform !== "linux" || glibc)
    ) {
      const name = `better-sqlite3-v${versions["better-sqlite3"]}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
      await mustRun(
        "tar",
        ["-czf", join(prebuilds, name), "-C", bindingDir, "build/Release/better_sqlite3.node"],
        root,
      );
    }

    writeFileSync(join(project, ".prebuild-installrc"), `local-prebuilds=${prebuilds}\n`);

    // A cold npm cache beside the rest of the suite once needed more than 150 s here (CI).
    const installed = await run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline"],
      project,
      {},
      INSTALL_TIMEOUT_MS,
    );
    if (installed.code !== 0) throw new Error(`npm install failed:\n${installed.output}`);
    const binding = readJson(join(project, "node_modules/better-sqlite3/package.json")).version;
    expect(binding, "one better-sqlite3, the projects' version").toBe(versions["better-sqlite3"]);
    const seconds = (from: number, to = performance.now()) => ((to - from) / 1000).toFixed(1);
    console.log(`[packed-install] pnpm pack ${seconds(started, packed)} s, npm install ${seconds(packed)} s`);
  }, INSTALL_TIMEOUT_MS + 120_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    console.log(`[packed-install] ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
  });

  const replays = [
    "replayed: run() on the memory store",
    "replayed: run() on SQLite",
    "replayed: HTTP through @idemkit/express on SQLite",
    "replayed: HTTP through @idemkit/express on the memory store",
  ];

  it("CommonJS: require() every package and get replays (memory, SQLite, Express 5 over HTTP)", async (context) => {
    if (skipped) return context.skip(skipped);
    const output = await mustRun(process.execPath, ["app.js", join(root, "cjs.db")], join(project, "cjs"));
    for (const line of [...replays, "done"]) expect(output).toContain(line);
  });

  it("ESM: import every package and get the same replays; the CommonJS Express build works with an ESM core", async (context) => {
    if (skipped) return context.skip(skipped);
    const output = await mustRun(process.execPath, ["app.js", join(root, "esm.db")], join(project, "esm"));
    for (const line of [...replays, "replayed: HTTP through the CommonJS @idemkit/express from ESM", "done"])
      expect(output).toContain(line);
  });

  it("TypeScript CommonJS (module node16; also checked with commonjs/node10): compiles and replays", async (context) => {
    if (skipped) return context.skip(skipped);
    const tsc = join(project, "node_modules/typescript/bin/tsc");
    const dir = join(project, "ts-cjs");
    await Promise.all([
      mustRun(process.execPath, [tsc, "-p", "tsconfig.json"], dir),
      mustRun(process.execPath, [tsc, "-p", "tsconfig.commonjs.json"], dir),
    ]);
    expect(readFileSync(join(dir, "dist/app.js"), "utf8")).toContain('require("@idemkit/express")');
    const output = await mustRun(process.execPath, ["dist/app.js", join(root, "ts-cjs.db")], dir);
    for (const line of [...replays, "done"]) expect(output).toContain(line);
  });

  it("TypeScript ESM (module nodenext; also checked with bundler): compiles and replays", async (context) => {
    if (skipped) return context.skip(skipped);
    const tsc = join(project, "node_modules/typescript/bin/tsc");
    const dir = join(project, "ts-esm");
    await Promise.all([
      mustRun(process.execPath, [tsc, "-p", "tsconfig.json"], dir),
      mustRun(process.execPath, [tsc, "-p", "tsconfig.bundler.json"], dir),
    ]);
    expect(readFileSync(join(dir, "dist/app.js"), "utf8")).toContain('from "@idemkit/express"');
    const output = await mustRun(process.execPath, ["dist/app.js", join(root, "ts-esm.db")], dir);
    for (const line of [...replays, "done"]) expect(output).toContain(line);
  });

  it("every package loads with require() and import()", async (context) => {
    if (skipped) return context.skip(skipped);
    const output = await mustRun(process.execPath, ["load-all.js"], join(project, "cjs"));
    for (const { name } of published) expect(output).toMatch(new RegExp(`loaded ${name}: require \\S+`));
  });
});
