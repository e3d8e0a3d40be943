// Compiles contracts/src/*.sol with the pinned solc (npm package, standard-JSON API) and writes
// one artifact per contract of ours to src/atelier/chain/evm/artifacts/<Name>.json.
//
//   cd contracts && npm ci && node build.mjs        (or: make contracts)
//
// The artifacts are committed: the Python package deploys and talks to the contracts without
// Node. Each artifact records the sha256 of our sources, and tests/chain checks them against
// contracts/src, so a .sol edited without rebuilding fails the test suite.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, "src");
const nodeModules = join(here, "node_modules");
const outDir = resolve(here, "..", "src", "atelier", "chain", "evm", "artifacts");

// Cancun: the most recent fork that every chain we may deploy to runs (mainnet, the major L2s
// and testnets; several EVM L2s and sidechains lag mainnet's Prague). The embedded chain,
// eth-tester 0.13 / py-evm 0.12, runs Prague and executes Cancun code unchanged. Prague added
// no opcode solc emits, so nothing is lost; Osaka (solc's default) may emit CLZ, which py-evm's
// Prague VM and Cancun/Prague chains cannot run.
const EVM_VERSION = "cancun";
const OPTIMIZER = { enabled: true, runs: 200 };

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

const files = readdirSync(srcDir)
  .filter((f) => f.endsWith(".sol"))
  .sort();
if (files.length === 0) {
  console.error(`no .sol files in ${srcDir}`);
  process.exit(1);
}

const sources = {};
const sourcesSha256 = {};
for (const file of files) {
  const bytes = readFileSync(join(srcDir, file));
  sources[file] = { content: bytes.toString("utf8") };
  sourcesSha256[file] = sha256(bytes);
}

// Imports of @openzeppelin/... come from node_modules (the version package-lock.json pins).
function findImports(path) {
  if (path.startsWith("@openzeppelin/")) {
    const full = join(nodeModules, path);
    if (existsSync(full)) return { contents: readFileSync(full, "utf8") };
    return { error: `not found: ${full} (run npm ci in contracts/)` };
  }
  const local = join(srcDir, path);
  if (existsSync(local)) return { contents: readFileSync(local, "utf8") };
  return { error: `not found: ${path}` };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: EVM_VERSION,
    optimizer: OPTIMIZER,
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
    },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

let failed = false;
for (const diagnostic of output.errors ?? []) {
  const text = diagnostic.formattedMessage ?? diagnostic.message;
  if (diagnostic.severity === "error") {
    failed = true;
    console.error(text);
  } else {
    console.warn(text);
  }
}
if (failed) {
  console.error("compilation failed");
  process.exit(1);
}

mkdirSync(outDir, { recursive: true });
const version = solc.version();
let written = 0;
for (const file of files) {
  for (const [name, contract] of Object.entries(output.contracts?.[file] ?? {})) {
    const artifact = {
      abi: contract.abi,
      bytecode: "0x" + contract.evm.bytecode.object,
      compiler: { evmVersion: EVM_VERSION, optimizer: OPTIMIZER, solc: version },
      contractName: name,
      deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      sourcesSha256,
    };
    const path = join(outDir, `${name}.json`);
    writeFileSync(path, JSON.stringify(artifact, null, 2) + "\n");
    console.log(`wrote ${path} (${(contract.evm.deployedBytecode.object.length / 2) | 0} bytes runtime)`);
    written += 1;
  }
}
if (written === 0) {
  console.error("no contracts compiled");
  process.exit(1);
}
