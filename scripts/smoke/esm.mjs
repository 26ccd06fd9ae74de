// ES module consumer: named imports from the CommonJS package (Node's cjs-module-lexer) and an
// asyncio-style run(). Prints "esm ok".
import assert from 'node:assert';
import { DefaultSelector, EVENT_READ, run, sleep } from 'muxloop';
import { socketpair } from 'muxloop/socket';
import { availableSelectors } from 'muxloop/selectors';
import { select } from 'muxloop/select';

const [a, b] = socketpair();
const sel = new DefaultSelector();
sel.register(a, EVENT_READ);
b.send(Buffer.from('x'));
assert.strictEqual(sel.select(1).length, 1);
assert.strictEqual(select([a], [], [], 0)[0].length, 1);
sel.close();
a.close();
b.close();

const result = await run(async () => {
  await sleep(0.01);
  return 42;
});
assert.strictEqual(result, 42);
console.log('esm ok', availableSelectors().join(','));
