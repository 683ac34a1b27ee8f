// Answers one JSON request per input line with one JSON line, using IAB's GPP library:
//   {"encode": {section: {field: value}}}            -> {"string": "..."}
//   {"decode": "DBA...", "fields": {section: [names]}} -> {"sections": {section: {field: value}}}
// Errors come back as {"error": "..."} so that the caller can assert on refusals too.
"use strict";
const readline = require("node:readline");
const { GppModel } = require("@iabgpp/cmpapi");

function encode(sections) {
  const model = new GppModel();
  for (const [section, fields] of Object.entries(sections)) {
    for (const [field, value] of Object.entries(fields)) {
      model.setFieldValue(section, field, value);
    }
  }
  return { string: model.encode() };
}

function decode(text, wanted) {
  const model = new GppModel(text);
  const sections = {};
  for (const [section, fields] of Object.entries(wanted)) {
    if (!model.hasSection(section)) continue;
    sections[section] = {};
    for (const field of fields) {
      sections[section][field] = model.getFieldValue(section, field);
    }
  }
  return { sections, sectionIds: model.getSectionIds() };
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    answer = "encode" in request ? encode(request.encode) : decode(request.decode, request.fields);
  } catch (error) {
    answer = { error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
