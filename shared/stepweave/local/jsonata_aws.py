"""The JavaScript that turns plain jsonata-js into Step Functions' JSONata.

``RUNNER`` is evaluated once in the V8 context that holds the ``jsonata`` library (see
:mod:`stepweave.local.jsonata_eval`). It defines ``__stepweave_jsonata`` with

* ``define(id, source)`` compiles an expression once under a number; ``run(id,
  bindingsJson)`` parses the bindings from JSON text (so numbers get JavaScript semantics)
  and evaluates with them bound; the outcome is left in ``last()`` as ``"R" + JSON`` (a
  value), ``"U"`` (undefined) or ``"E" + JSON`` (``{code, message, position, token}``). The
  library's ``evaluate`` is asynchronous: the outcome is read by a second call, once V8
  has run its microtasks (it does when a script returns); ``forget(id)`` drops one;
* the functions Step Functions adds, as AWS documents them: ``$partition(array, chunkSize)``,
  ``$range(start, end, step)``, ``$hash(value, algorithm)`` (MD5, SHA-1, SHA-256, SHA-384 or
  SHA-512, case-sensitive; lowercase hex of the UTF-8 bytes), ``$random([seed])`` (``0 <= n <
  1``, the same number for the same seed), ``$uuid()`` (a version 4 UUID) and
  ``$parse(jsonString)`` (strict JSON: no ``NaN``, ``Infinity`` or number that overflows);
  ``$eval`` is refused. Where the documentation is silent the edge cases follow behaviour
  observed on AWS: a non-integer argument is rounded towards zero, and ``$partition`` of an
  empty array, a chunk size of 0, ``$range`` without a step or with a step pointing away from
  the end and ``$hash`` without an algorithm are undefined.

Bare V8 has no ``crypto``: the digests are written out below (BigInt for SHA-384/512) and
checked against :mod:`hashlib` by ``tests/engine/test_jsonata_engine.py``.
"""

from __future__ import annotations

__all__ = ["RUNNER"]

RUNNER = r"""
var __stepweave_jsonata = (function (jsonata) {
  'use strict';

  function fail(message, code) { return {code: code, message: message}; }
  function whole(n) { return Math.trunc(n); }

  // -- UTF-8 -------------------------------------------------------------------------
  function utf8(s) {
    var out = [];
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
        else { c = 0xfffd; }
      } else if (c >= 0xd800 && c <= 0xdfff) { c = 0xfffd; }
      if (c < 0x80) { out.push(c); }
      else if (c < 0x800) { out.push(0xc0 | (c >> 6), 0x80 | (c & 63)); }
      else if (c < 0x10000) { out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63)); }
      else { out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63)); }
    }
    return out;
  }

  function hex32(words, littleEndian) {
    var s = '';
    words.forEach(function (w) {
      for (var k = 0; k < 4; k++) {
        var b = littleEndian ? (w >>> (8 * k)) & 255 : (w >>> (24 - 8 * k)) & 255;
        s += (b < 16 ? '0' : '') + b.toString(16);
      }
    });
    return s;
  }

  // message bytes + 0x80 + zeros + bit length, in blocks of `size` bytes
  function pad(bytes, size, lengthBytes, littleEndian) {
    var m = bytes.slice(), bits = bytes.length * 8;
    m.push(0x80);
    while ((m.length + lengthBytes) % size !== 0) { m.push(0); }
    var len = [];
    for (var k = 0; k < lengthBytes; k++) { len.push(k < 7 ? Math.floor(bits / Math.pow(2, 8 * k)) & 255 : 0); }
    return m.concat(littleEndian ? len : len.reverse());
  }

  function words32(m, i, littleEndian) {
    return littleEndian
      ? (m[i] | (m[i + 1] << 8) | (m[i + 2] << 16) | (m[i + 3] << 24))
      : ((m[i] << 24) | (m[i + 1] << 16) | (m[i + 2] << 8) | m[i + 3]);
  }

  // -- constants from the primes (as the standards define them) -----------------------
  function primes(n) {
    var out = [];
    for (var p = 2; out.length < n; p++) {
      if (out.every(function (q) { return p % q !== 0; })) { out.push(p); }
    }
    return out;
  }
  function iroot(n, k) {  // floor(n ** (1/k)) for a BigInt n >= 1
    var x = 1n << (BigInt(n.toString(2).length) / k + 1n);
    for (;;) {
      var y = ((k - 1n) * x + n / (x ** (k - 1n))) / k;
      if (y >= x) { return x; }
      x = y;
    }
  }
  var MASK64 = (1n << 64n) - 1n;
  function frac64(p, k) { return iroot(BigInt(p) << (64n * k), k) & MASK64; }
  var P = primes(80);
  var K64 = P.map(function (p) { return frac64(p, 3n); });
  var K32 = K64.slice(0, 64).map(function (k) { return Number(k >> 32n) | 0; });
  var H512 = P.slice(0, 8).map(function (p) { return frac64(p, 2n); });
  var H384 = P.slice(8, 16).map(function (p) { return frac64(p, 2n); });
  var H256 = H512.map(function (h) { return Number(h >> 32n) | 0; });
  var MD5K = [], MD5S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  for (var i = 0; i < 64; i++) { MD5K.push(Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0); }

  function rotl(x, n) { return (x << n) | (x >>> (32 - n)); }

  function md5(bytes) {
    var m = pad(bytes, 64, 8, true), h = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476];
    for (var o = 0; o < m.length; o += 64) {
      var w = [];
      for (var j = 0; j < 16; j++) { w.push(words32(m, o + 4 * j, true)); }
      var a = h[0], b = h[1], c = h[2], d = h[3];
      for (var r = 0; r < 64; r++) {
        var f, g, q = r >> 4;
        if (q === 0) { f = (b & c) | (~b & d); g = r; }
        else if (q === 1) { f = (d & b) | (~d & c); g = (5 * r + 1) & 15; }
        else if (q === 2) { f = b ^ c ^ d; g = (3 * r + 5) & 15; }
        else { f = c ^ (b | ~d); g = (7 * r) & 15; }
        var t = d; d = c; c = b;
        b = (b + rotl((a + f + MD5K[r] + w[g]) | 0, MD5S[q * 4 + (r & 3)])) | 0;
        a = t;
      }
      h = [(h[0] + a) | 0, (h[1] + b) | 0, (h[2] + c) | 0, (h[3] + d) | 0];
    }
    return hex32(h, true);
  }

  function sha1(bytes) {
    var m = pad(bytes, 64, 8, false);
    var h = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];
    for (var o = 0; o < m.length; o += 64) {
      var w = [];
      for (var j = 0; j < 80; j++) {
        w.push(j < 16 ? words32(m, o + 4 * j, false) : rotl(w[j - 3] ^ w[j - 8] ^ w[j - 14] ^ w[j - 16], 1));
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
      for (var r = 0; r < 80; r++) {
        var f, k;
        if (r < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
        else if (r < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
        else if (r < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc | 0; }
        else { f = b ^ c ^ d; k = 0xca62c1d6 | 0; }
        var t = (rotl(a, 5) + f + e + k + w[r]) | 0;
        e = d; d = c; c = rotl(b, 30); b = a; a = t;
      }
      h = [(h[0] + a) | 0, (h[1] + b) | 0, (h[2] + c) | 0, (h[3] + d) | 0, (h[4] + e) | 0];
    }
    return hex32(h, false);
  }

  function sha256(bytes) {
    var m = pad(bytes, 64, 8, false), h = H256.slice();
    function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
    for (var o = 0; o < m.length; o += 64) {
      var w = [];
      for (var j = 0; j < 64; j++) {
        if (j < 16) { w.push(words32(m, o + 4 * j, false)); continue; }
        var s0 = rotr(w[j - 15], 7) ^ rotr(w[j - 15], 18) ^ (w[j - 15] >>> 3);
        var s1 = rotr(w[j - 2], 17) ^ rotr(w[j - 2], 19) ^ (w[j - 2] >>> 10);
        w.push((w[j - 16] + s0 + w[j - 7] + s1) | 0);
      }
      var v = h.slice();
      for (var r = 0; r < 64; r++) {
        var S1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
        var ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        var t1 = (v[7] + S1 + ch + K32[r] + w[r]) | 0;
        var S0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
        var t2 = (S0 + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]))) | 0;
        v = [(t1 + t2) | 0, v[0], v[1], v[2], (v[3] + t1) | 0, v[4], v[5], v[6]];
      }
      h = h.map(function (x, k) { return (x + v[k]) | 0; });
    }
    return hex32(h, false);
  }

  function sha512(bytes, init, outWords) {
    var m = pad(bytes, 128, 16, false), h = init.slice();
    function rotr(x, n) { return ((x >> n) | (x << (64n - n))) & MASK64; }
    function word(i) {
      var x = 0n;
      for (var k = 0; k < 8; k++) { x = (x << 8n) | BigInt(m[i + k]); }
      return x;
    }
    for (var o = 0; o < m.length; o += 128) {
      var w = [];
      for (var j = 0; j < 80; j++) {
        if (j < 16) { w.push(word(o + 8 * j)); continue; }
        var s0 = rotr(w[j - 15], 1n) ^ rotr(w[j - 15], 8n) ^ (w[j - 15] >> 7n);
        var s1 = rotr(w[j - 2], 19n) ^ rotr(w[j - 2], 61n) ^ (w[j - 2] >> 6n);
        w.push((w[j - 16] + s0 + w[j - 7] + s1) & MASK64);
      }
      var v = h.slice();
      for (var r = 0; r < 80; r++) {
        var S1 = rotr(v[4], 14n) ^ rotr(v[4], 18n) ^ rotr(v[4], 41n);
        var ch = (v[4] & v[5]) ^ (~v[4] & MASK64 & v[6]);
        var t1 = (v[7] + S1 + ch + K64[r] + w[r]) & MASK64;
        var S0 = rotr(v[0], 28n) ^ rotr(v[0], 34n) ^ rotr(v[0], 39n);
        var t2 = (S0 + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]))) & MASK64;
        v = [(t1 + t2) & MASK64, v[0], v[1], v[2], (v[3] + t1) & MASK64, v[4], v[5], v[6]];
      }
      h = h.map(function (x, k) { return (x + v[k]) & MASK64; });
    }
    return h.slice(0, outWords).map(function (x) { return x.toString(16).padStart(16, '0'); }).join('');
  }

  var HASHES = {
    'MD5': md5,
    'SHA-1': sha1,
    'SHA-256': sha256,
    'SHA-384': function (b) { return sha512(b, H384, 6); },
    'SHA-512': function (b) { return sha512(b, H512, 8); }
  };

  // -- the Step Functions functions --------------------------------------------------
  function hash(value, algorithm) {
    if (typeof value === 'undefined' || typeof algorithm === 'undefined') { return undefined; }
    var digest = Object.prototype.hasOwnProperty.call(HASHES, algorithm) ? HASHES[algorithm] : null;
    if (digest === null) {
      throw fail('$hash: unsupported hash algorithm "' + algorithm +
                 '" (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)', 'D3137');
    }
    return digest(utf8(value));
  }

  // mulberry32 over both halves of the integer seed: the same seed gives the same number
  function seeded(seed) {
    var s = whole(seed), lo = Number(BigInt.asUintN(32, BigInt(s))), hi = Math.floor(Math.abs(s) / 4294967296);
    var state = (lo ^ Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b) ^ (s < 0 ? 0x5bd1e995 : 0)) >>> 0;
    function next() {
      state = (state + 0x6d2b79f5) >>> 0;
      var t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0);
    }
    return (next() * 2097152 + (next() >>> 11)) / 9007199254740992;  // 53 random bits
  }
  function random(seed) { return typeof seed === 'undefined' ? Math.random() : seeded(seed); }

  function uuid() {
    var b = [];
    for (var i = 0; i < 16; i++) { b.push(Math.floor(Math.random() * 256)); }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = b.map(function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function finite(value) {
    if (typeof value === 'number') { return isFinite(value); }
    if (Array.isArray(value)) { return value.every(finite); }
    if (value !== null && typeof value === 'object') {
      return Object.keys(value).every(function (k) { return finite(value[k]); });
    }
    return true;
  }
  function parse(text) {
    if (typeof text === 'undefined') { return undefined; }
    var value;
    try { value = JSON.parse(text); }
    catch (e) { throw fail('$parse: the argument is not valid JSON: ' + e.message, 'D3137'); }
    if (!finite(value)) { throw fail('$parse: the argument is not valid JSON: a number is out of range', 'D3137'); }
    return value;
  }

  function partition(array, size) {
    if (typeof array === 'undefined') { return undefined; }
    if (typeof size === 'undefined') { return [array]; }
    var n = whole(size);
    if (n < 0) { throw fail('$partition: the chunk size must not be negative', 'D3137'); }
    if (n === 0 || array.length === 0) { return undefined; }
    var out = [];
    for (var i = 0; i < array.length; i += n) { out.push(array.slice(i, i + n)); }
    return out;
  }

  var RANGE_LIMIT = 10000000;
  function range(start, end, step) {
    if (typeof start === 'undefined' || typeof end === 'undefined' || typeof step === 'undefined') {
      return undefined;
    }
    var a = whole(start), z = whole(end), d = whole(step);
    if (d === 0) { throw fail('$range: the step must not be 0', 'D3137'); }
    if ((z - a) * d < 0) { return undefined; }
    if (Math.floor((z - a) / d) + 1 > RANGE_LIMIT) {
      throw fail('$range: the result would hold more than ' + RANGE_LIMIT + ' items', 'D3137');
    }
    var out = [];
    for (var v = a; d > 0 ? v <= z : v >= z; v += d) { out.push(v); }
    return out;
  }

  function refuseEval() {
    throw fail('$eval is not supported by AWS Step Functions (use $parse)', 'D3137');
  }

  var EXTRAS = [
    ['partition', partition, '<an?:a<a>>'],
    ['range', range, '<n?n?n?:a<n>>'],
    ['hash', hash, '<s?s?:s>'],
    ['random', random, '<n?:n>'],
    ['uuid', uuid, '<:s>'],
    ['parse', parse, '<s?:x>'],
    ['eval', refuseEval, '<x?x?:x>']
  ];

  // -- compile once, evaluate with bound JSON values ---------------------------------
  // Expressions are compiled under a number the caller chose (``define``) so that each
  // evaluation sends only that number and the bindings, not the source again.
  var compiled = new Map(), outcome;

  function error(e) {
    if (e === null || typeof e !== 'object') { return {message: String(e)}; }
    return {code: typeof e.code === 'string' ? e.code : undefined,
            message: String(e.message || e.code || e),
            position: typeof e.position === 'number' ? e.position : undefined,
            token: typeof e.token === 'string' ? e.token : undefined};
  }

  function define(id, source) {
    var entry;
    try {
      var expr = jsonata(source);
      EXTRAS.forEach(function (f) { expr.registerFunction(f[0], f[1], f[2]); });
      entry = {expr: expr};
    } catch (e) {
      entry = {error: error(e)};  // a syntax error is the answer every time
    }
    compiled.set(id, entry);
  }

  function forget(id) { compiled.delete(id); }

  // A result is JSON: a number JSON cannot hold (1/0) fails rather than becoming null.
  function settle(value) {
    if (!finite(value)) {
      outcome = 'E' + JSON.stringify(fail('Number out of range: the result holds Infinity or NaN', 'D1001'));
      return;
    }
    var text = typeof value === 'undefined' ? undefined : JSON.stringify(value);
    outcome = typeof text === 'undefined' ? 'U' : 'R' + text;
  }

  function run(id, bindingsJson) {
    outcome = undefined;
    var entry = compiled.get(id);
    if (entry === undefined) { outcome = 'E' + JSON.stringify(fail('unknown expression ' + id)); return; }
    if (entry.error) { outcome = 'E' + JSON.stringify(entry.error); return; }
    entry.expr.evaluate(undefined, JSON.parse(bindingsJson)).then(settle, function (e) {
      outcome = 'E' + JSON.stringify(error(e));
    });
  }

  function last() {
    var out = outcome;
    outcome = undefined;
    return out;
  }

  return {define: define, forget: forget, run: run, last: last};
})(jsonata);
"""
