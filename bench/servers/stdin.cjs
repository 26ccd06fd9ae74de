'use strict';
// Whether stdin is a pipe (a FIFO, or the socketpair Node's child_process makes for 'pipe'):
// then its end means the driver is gone, and the server exits. A terminal or /dev/null is not.
const fs = require('node:fs');

module.exports = function stdinIsPipe() {
  try {
    const st = fs.fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
};
