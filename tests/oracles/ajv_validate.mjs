// JSON Schema validator oracle: ajv 8 (draft 2020-12 through ajv/dist/2020, draft-07 through
// the default class). Reads a JSON array of {schema, data, draft} ("2020-12" or "7") on stdin,
// writes a JSON array of {valid} or {error} (the schema did not compile) in the same order.
// Formats are not asserted (ajv-formats is not installed), so callers leave out schemas that
// use "format". Options that bring ajv closer to the specification:
// - ownProperties: "required": ["toString"] is not met by Object.prototype.toString;
// - multipleOf in exact decimal arithmetic, as the specification asks: ajv's own test
//   (x / m === parseInt(x / m)) misreads quotients of 1e21 and more, which JavaScript prints in
//   exponent form ("5e+23" parses as 5), and float division errs both ways.
import Ajv2020 from "ajv/dist/2020.js";
import Ajv7 from "ajv";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const requests = JSON.parse(input);

// A number's shortest decimal form (what JSON.parse read) as digits * 10^exponent.
function decimal(x) {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x));
  const frac = m[3] ?? "";
  return { digits: BigInt(m[1] + m[2] + frac), exponent: Number(m[4] ?? 0) - frac.length };
}

// Whether x / m is an integer, exactly.
function exactMultiple(m, x) {
  const a = decimal(x);
  const b = decimal(m);
  const e = Math.min(a.exponent, b.exponent);
  const scaledA = a.digits * 10n ** BigInt(a.exponent - e);
  const scaledB = b.digits * 10n ** BigInt(b.exponent - e);
  return scaledA % scaledB === 0n;
}

function newAjv(draft) {
  const Ajv = draft === "7" ? Ajv7 : Ajv2020;
  const ajv = new Ajv({ strict: false, validateFormats: false, ownProperties: true });
  ajv.removeKeyword("multipleOf");
  ajv.addKeyword({
    keyword: "multipleOf",
    type: "number",
    schemaType: "number",
    validate: exactMultiple,
  });
  return ajv;
}

// One ajv instance per draft while the schemas' $ids differ: ajv registers every $id it
// compiles, so a schema reusing one gets a fresh instance (making one costs ~30 ms).
const instances = new Map();
const compiled = new Map();
function validator(schema, draft) {
  const key = draft + "\u0000" + JSON.stringify(schema);
  if (compiled.has(key)) return compiled.get(key);
  if (!instances.has(draft)) instances.set(draft, newAjv(draft));
  let result;
  for (let attempt = 0; attempt < 2 && !result; ++attempt) {
    try {
      result = { validate: instances.get(draft).compile(schema) };
    } catch (e) {
      const message = String(e && e.message ? e.message : e);
      if (attempt === 0 && /already exists/.test(message)) {
        instances.set(draft, newAjv(draft));
      } else {
        result = { error: message };
      }
    }
  }
  compiled.set(key, result);
  return result;
}

const answers = requests.map(({ schema, data, draft }) => {
  const v = validator(schema, draft);
  if (v.error !== undefined) return { error: v.error };
  try {
    return { valid: v.validate(data) === true };
  } catch (e) {
    return { error: "validation threw: " + String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify(answers));
