// gpt2_oracle.js: GPT-2 BPE oracle for test_text_tokenizer: reads a JSON array of strings
// from argv[2] and prints a JSON array with gpt-3-encoder's encode() of each.
// Usage: node gpt2_oracle.js strings.json [path/to/gpt-3-encoder]
const fs = require('fs');
const path = require('path');
const pkg = path.resolve(process.argv[3] || 'node_modules/gpt-3-encoder');
const { encode } = require(pkg);
const strings = JSON.parse(fs.readFileSync(process.argv[2], 'utf-8'));
process.stdout.write(JSON.stringify(strings.map((s) => encode(s))));
