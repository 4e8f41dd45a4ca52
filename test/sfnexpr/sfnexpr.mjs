// Evaluates Step Functions JSONata expressions ("{% ... %}") with the JSONata engine, the version
// Step Functions implements (2.0.6, Step Functions Developer Guide: Transforming data with
// JSONata), binding $states as Step Functions does for a state: {input, context, ...}.
//
// stdin: [{"expression": "{% ... %}", "states": {"input": ...}}, ...]
// stdout: [{"value": ...} | {"error": "..."}, ...] in the same order.
import jsonata from "jsonata";
import { readFileSync } from "node:fs";

const cases = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const c of cases) {
  const m = /^\{%([\s\S]*)%\}$/.exec(c.expression);
  if (!m) {
    out.push({ error: "not a JSONata expression: " + c.expression });
    continue;
  }
  try {
    const value = await jsonata(m[1]).evaluate(c.states.input, { states: c.states });
    out.push({ value: value === undefined ? null : value, undefined: value === undefined });
  } catch (e) {
    out.push({ error: String(e.message || e) });
  }
}
process.stdout.write(JSON.stringify(out));
