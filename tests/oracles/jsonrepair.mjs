// JSON repair oracle: runs the npm package jsonrepair on each input. Reads a JSON array of
// strings on stdin, writes a JSON array of {ok, value} to stdout, where value is
// JSON.parse(jsonrepair(input)) and ok is false when jsonrepair throws (value is then null).
import { jsonrepair } from "jsonrepair";

// Lone surrogates (from "\ud83d" escapes) become U+FFFD, so that strict UTF-8 readers such as
// nlohmann::json can read the answer; Troika's repair does the same.
function wellFormed(v) {
  if (typeof v === "string") return v.toWellFormed();
  if (Array.isArray(v)) return v.map(wellFormed);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.toWellFormed(), wellFormed(x)]));
  }
  return v;
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map((text) => {
  try {
    return { ok: true, value: wellFormed(JSON.parse(jsonrepair(text))) };
  } catch {
    return { ok: false, value: null };
  }
});
process.stdout.write(JSON.stringify(results));
