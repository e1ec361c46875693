#!/usr/bin/env node
// Builds the addon with node-gyp against the headers of the running Node.js
// when they are installed next to it (Debian's nodejs, official tarballs), so
// the build needs no download; otherwise node-gyp's usual lookup applies.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const args = ["rebuild"];
const prefix = path.resolve(path.dirname(process.execPath), "..");
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, "include", "node", "node.h"))) {
  args.push(`--nodedir=${prefix}`);
}
const candidates = [
  process.env.npm_config_node_gyp,
  ...(process.env.PATH || "").split(":").map((d) => path.join(d, "node-gyp")),
  path.join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
].filter(Boolean);
const gyp = candidates.find((c) => fs.existsSync(c));
if (!gyp) {
  console.error("@kindling/sys-util: node-gyp not found (install npm, or set npm_config_node_gyp)");
  process.exit(1);
}
const isJs = gyp.endsWith(".js");
const r = spawnSync(isJs ? process.execPath : gyp, isJs ? [gyp, ...args] : args, {
  stdio: "inherit",
  cwd: path.resolve(__dirname, ".."),
});
process.exit(r.status ?? 1);
