// CommonJS consumer: the README's first example (a selector over a socketpair), then every public
// specifier. Prints "cjs ok".
'use strict';
const assert = require('node:assert');
const { DefaultSelector, EVENT_READ, EVENT_WRITE, newEventLoop } = require('muxloop');
const { socketpair } = require('muxloop/socket');
const selectors = require('muxloop/selectors');
const { select } = require('muxloop/select');

const [left, right] = socketpair();
left.setblocking(false);
right.setblocking(false);
const sel = new DefaultSelector();
sel.register(left, EVENT_READ, 'left side');
sel.register(right, EVENT_WRITE, 'right side');
const seen = [];
for (const [key, events] of sel.select(1.0)) {
  seen.push(`${key.data} ${events === EVENT_WRITE ? 'writable' : 'readable'}`);
  if (key.data === 'right side') key.fileobj.send(Buffer.from('ping'));
}
assert.deepStrictEqual(seen, ['right side writable']);
sel.modify(right, EVENT_READ, 'right side');
const got = sel.select(1.0).map(([key]) => `${key.data} got ${key.fileobj.recv(16).toString()}`);
assert.deepStrictEqual(got, ['left side got ping']);
sel.unregister(left);
sel.unregister(right);
sel.close();

assert.ok(selectors.availableSelectors().length > 0);
const [ready] = select([right], [], [], 0);
assert.deepStrictEqual(ready, []);
left.close();
right.close();

const loop = newEventLoop();
let ran = false;
loop.callSoon(() => {
  ran = true;
  loop.stop();
});
loop.runForever().then(() => {
  loop.close();
  assert.ok(ran);
  console.log('cjs ok', selectors.availableSelectors().join(','));
});
