'use strict';
// The trivial job of the executors case: identity. `default` for piscina, `noop` for muxloop.
const noop = (x) => x;
module.exports = noop;
module.exports.noop = noop;
