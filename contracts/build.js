// Rebuilds contracts/CheckpointOracle.json from CheckpointOracle.sol with the solc-js
// version pinned in tools/package.json. Usage: node contracts/build.js [OUTPUT]
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "tools", "node_modules", "solc"));

const SOURCE = "CheckpointOracle.sol";
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "london", // py-evm's London VM and anvil --hardfork london: no PUSH0
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
const content = fs.readFileSync(path.join(__dirname, SOURCE), "utf8");
const input = { language: "Solidity", sources: { [SOURCE]: { content } }, settings };
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
(output.errors || []).forEach((e) => process.stderr.write(e.formattedMessage + "\n"));
if (errors.length) process.exit(1);
const contract = output.contracts[SOURCE].CheckpointOracle;
const artifact = {
  contractName: "CheckpointOracle",
  source: SOURCE,
  compiler: { name: "solc-js", version: solc.version(), settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion } },
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
  deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
};
const out = process.argv[2] || path.join(__dirname, "..", "lightclient", "oracle", "CheckpointOracle.json");
fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + "\n");
