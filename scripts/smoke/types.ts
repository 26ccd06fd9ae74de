// TypeScript consumer: the public specifiers resolve with their types under node10, node16 and
// bundler resolution (checked with tsc --noEmit, strict).
import { DefaultSelector, EVENT_READ, run, type SelectorKey } from 'muxloop';
import { socketpair, Socket } from 'muxloop/socket';
import { availableSelectors, type SelectorKind } from 'muxloop/selectors';
import { select } from 'muxloop/select';

const [a, b]: [Socket, Socket] = socketpair();
const sel = new DefaultSelector<string>();
const key: SelectorKey<string> = sel.register(a, EVENT_READ, 'a');
const kinds: SelectorKind[] = availableSelectors();
const ready: number = select([a], [b], [], 0).length;
const done: Promise<number> = run(async () => key.fd + kinds.length + ready);
void done;
