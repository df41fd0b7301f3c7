// Validates Step Functions definitions with AWS's own ASL language service (the engine
// behind the AWS Toolkit's validation), pinned in package.json.
// stdin: {"<name>": <definition object>, ...}; stdout: {"<name>": [diagnostic, ...], ...}
'use strict';
const path = require('path');
const root = path.resolve(__dirname, '..', '..');
const asl = require(path.join(root, 'node_modules', 'amazon-states-language-service'));
const { TextDocument } = require(path.join(root, 'node_modules', 'vscode-languageserver-textdocument'));

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const service = asl.getLanguageService({});
  const out = {};
  for (const [name, definition] of Object.entries(input)) {
    const text = JSON.stringify(definition, null, 2);
    const doc = TextDocument.create(`file:///${name}.asl.json`, 'json', 1, text);
    const json = service.parseJSONDocument(doc);
    const diagnostics = await service.doValidation(doc, json);
    out[name] = diagnostics.map(d => ({
      severity: d.severity, code: d.code, message: d.message,
      line: d.range.start.line + 1,
      text: text.split('\n')[d.range.start.line].trim().slice(0, 160),
    }));
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch(err => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
