// Checks real Herald deliveries with the `standardwebhooks` package from npm,
// using the Node example of README.md exactly as printed there.
//
//     NODE_PATH=<dir with node_modules> node check.js README.md cases.json
//
// README.md holds the example as the ```js block right after the line
// `<!-- receivers: node -->`; it defines `verify(secret, body, headers)`. Each case
// in cases.json is {"name", "secret", "body" (base64), "headers", "valid"}:
// `verify` must return the parsed body for a valid case and throw for any other.
// For a valid case with a plain-string secret, the library must also verify it
// given as `whsec_` + base64 of the string's bytes (README's advice for any
// library) and must fail given the string as it is (why README's example exists).
// Exits 1 when any case goes otherwise.
"use strict";

const fs = require("node:fs");
const assert = require("node:assert");
const { Webhook } = require("standardwebhooks");

const MARKER = "<!-- receivers: node -->";

function readmeExample(path) {
  const text = fs.readFileSync(path, "utf8");
  const start = text.indexOf(MARKER);
  if (start < 0) throw new Error(`${path} has no ${MARKER}`);
  const fence = text.indexOf("```js\n", start);
  if (fence < 0 || text.slice(start + MARKER.length, fence).trim() !== "") {
    throw new Error(`${path}: the \`\`\`js block must follow ${MARKER} directly`);
  }
  const body = fence + "```js\n".length;
  return text.slice(body, text.indexOf("```", body));
}

// A plain-string secret as README says any library takes it (`whsec_` + base64 of
// its bytes) verifies; as it is, it does not.
function plainSecretForms(secret, body, headers) {
  try {
    const encoded = Buffer.from(secret, "utf8").toString("base64");
    new Webhook(`whsec_${encoded}`).verify(body, headers);
  } catch (e) {
    return [false, `whsec_ + base64 of the string did not verify: ${e.message}`];
  }
  try {
    new Webhook(secret).verify(body, headers);
    return [false, "the library verified the plain string as it is"];
  } catch {
    // As expected: the library base64-decodes the string.
    return [true, ""];
  }
}

function main() {
  const [readme, casesFile] = process.argv.slice(2);
  const example = readmeExample(readme);
  // The example as a module body: its `require` is this script's.
  const verify = new Function("require", `${example}\nreturn verify;`)(require);
  const cases = JSON.parse(fs.readFileSync(casesFile, "utf8"));
  if (cases.length === 0) throw new Error("no cases");
  let failures = 0;
  for (const c of cases) {
    const body = Buffer.from(c.body, "base64");
    let verified = false;
    let error = "";
    try {
      const payload = verify(c.secret, body, c.headers);
      assert.deepStrictEqual(payload, JSON.parse(body.toString("utf8")));
      verified = true;
    } catch (e) {
      error = `${e.name}: ${e.message}`;
    }
    let ok = verified === c.valid;
    if (ok && c.valid && !c.secret.startsWith("whsec_")) {
      [ok, error] = plainSecretForms(c.secret, body, c.headers);
    }
    console.log(`${ok ? "ok" : "FAIL"} node ${c.name}${error ? `: ${error}` : ""}`);
    if (!ok) failures += 1;
  }
  process.exit(failures ? 1 : 0);
}

main();
