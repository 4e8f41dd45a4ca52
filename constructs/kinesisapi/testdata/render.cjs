// Renders API Gateway mapping templates with the real Velocity engine (velocityjs), supplying the
// $input, $util and $context variables the way API Gateway does for a JSON request.
// stdin: JSON array of {template, body, params: {path, querystring, header}}.
// stdout: JSON array of {output, status, error}.
'use strict';
const path = require('path');
const velocity = require(path.join(process.argv[2], 'velocityjs'));

// Java's Map.toString and List.toString: what API Gateway prints for an object or array that a
// template interpolates directly (the bug of the original PutRecords template).
function javaString(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[' + v.map(javaString).join(', ') + ']';
  if (typeof v === 'object') return '{' + Object.keys(v).map(k => k + '=' + javaString(v[k])).join(', ') + '}';
  return String(v);
}
function javaView(v) {
  if (v === null || typeof v !== 'object') return v;
  const out = Array.isArray(v) ? v.map(javaView) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, javaView(x)]));
  Object.defineProperty(out, 'toString', { value: () => javaString(v), enumerable: false });
  return out;
}

// A JSONPath subset: $, .name, ['name'], ["name"], [n].
function evalPath(root, expr) {
  if (!expr.startsWith('$')) throw new Error('JSONPath must start with $: ' + expr);
  let v = root, i = 1;
  while (i < expr.length) {
    if (v === undefined || v === null) return undefined;
    if (expr[i] === '.') {
      const m = /^\.([^.\[]+)/.exec(expr.slice(i));
      if (!m) throw new Error('bad JSONPath ' + expr);
      v = v[m[1]]; i += m[0].length;
    } else if (expr[i] === '[') {
      const m = /^\[(?:(\d+)|'([^']*)'|"([^"]*)")\]/.exec(expr.slice(i));
      if (!m) throw new Error('bad JSONPath ' + expr);
      v = m[1] !== undefined ? v[Number(m[1])] : v[m[2] !== undefined ? m[2] : m[3]]; i += m[0].length;
    } else throw new Error('bad JSONPath ' + expr);
  }
  return v;
}

// Java's StringEscapeUtils.escapeJavaScript, which $util.escapeJavaScript is.
function escapeJavaScript(s) {
  return String(s).replace(/[\\"'\/\b\f\n\r\t]|[\u0000-\u001f\u007f-\uffff]/g, c => {
    switch (c) {
      case '\\': return '\\\\'; case '"': return '\\"'; case "'": return "\\'"; case '/': return '\\/';
      case '\b': return '\\b'; case '\f': return '\\f'; case '\n': return '\\n'; case '\r': return '\\r'; case '\t': return '\\t';
    }
    return '\\u' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
  });
}

function render(c) {
  const parsed = c.body === '' ? {} : JSON.parse(c.body);
  const params = Object.assign({ path: {}, querystring: {}, header: {} }, c.params || {});
  const input = {
    body: c.body,
    json: p => { const v = evalPath(parsed, p); return v === undefined ? '' : JSON.stringify(v); },
    path: p => { const v = evalPath(parsed, p); return v === undefined ? '' : javaView(v); },
    params: name => {
      if (name === undefined) return params;
      for (const where of ['path', 'querystring', 'header']) if (name in params[where]) return params[where][name];
      return '';
    },
  };
  const util = {
    base64Encode: s => Buffer.from(String(s), 'utf8').toString('base64'),
    base64Decode: s => Buffer.from(String(s), 'base64').toString('utf8'),
    escapeJavaScript,
    parseJson: s => javaView(JSON.parse(s)),
    urlEncode: s => encodeURIComponent(String(s)),
    urlDecode: s => decodeURIComponent(String(s)),
  };
  const context = { responseOverride: { status: undefined, header: {} }, requestId: 'test-request' };
  const output = velocity.render(c.template, { input, util, context });
  return { output, status: context.responseOverride.status || 0 };
}

let raw = '';
process.stdin.on('data', d => raw += d);
process.stdin.on('end', () => {
  const out = JSON.parse(raw).map(c => { try { return render(c); } catch (e) { return { error: String(e && e.stack || e) }; } });
  process.stdout.write(JSON.stringify(out));
});
