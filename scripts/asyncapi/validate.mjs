// Validates an AsyncAPI document with @asyncapi/parser: what `asyncapi validate`
// checks (the spec's JSON Schema, references, AsyncAPI's recommended ruleset),
// without the whole CLI (13 s and 54 MB to install, against 90 s and 440 MB).
// Then every message example against its message's payload and headers schemas
// (the parser's v3 rules do not check examples). Errors and warnings fail.
// Usage: node validate.mjs FILE [EXPECTED_MESSAGES]
import { Parser, fromFile } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const [file, expected] = process.argv.slice(2);
if (!file) {
  console.error('usage: node validate.mjs FILE [EXPECTED_MESSAGES]');
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, file).parse();
const severities = ['error', 'warning', 'info', 'hint'];
let failed = false;
for (const d of diagnostics) {
  const severity = severities[d.severity] ?? String(d.severity);
  const counts = severity === 'error' || severity === 'warning';
  failed ||= counts;
  console.log(`${file}: ${severity} ${d.code} at ${d.path.join('.')}: ${d.message}`);
}
if (!document) {
  console.error(`${file}: not a valid AsyncAPI document`);
  process.exit(1);
}
// AsyncAPI schemas are draft 07 with extensions (`x-…`): not strict about keywords.
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
// schemars names the Rust integer and float types as formats; their ranges are
// already in the schemas (`minimum`) or are JSON's.
for (const name of ['int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64', 'float', 'double']) {
  ajv.addFormat(name, { type: 'number', validate: () => true });
}
let examples = 0;
for (const message of document.components().messages()) {
  const checks = [['payload', message.payload()], ['headers', message.headers()]];
  for (const [part, schema] of checks) {
    if (!schema) continue;
    const validate = ajv.compile(schema.json());
    for (const example of message.examples()) {
      const value = part === 'payload' ? example.payload() : example.headers();
      if (value === undefined) continue;
      examples += part === 'payload' ? 1 : 0;
      if (!validate(value)) {
        failed = true;
        for (const e of validate.errors) {
          console.log(`${file}: error: message ${message.id()} example ${example.name()} ${part}${e.instancePath} ${e.message}`);
        }
      }
    }
  }
}
const messages = document.components().messages().length;
if (expected !== undefined && messages !== Number(expected)) {
  console.error(`${file}: ${messages} messages, expected ${expected}`);
  failed = true;
}
if (failed) process.exit(1);
console.log(`${file}: valid AsyncAPI ${document.version()}, ${messages} messages, ${examples} examples valid against their schemas`);
