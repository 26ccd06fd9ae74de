# The CPython oracle for StreamReader (reliability.md section 3.2, "differential runs"): reads
# cases as JSON on stdin, replays each op script against asyncio.StreamReader, feeding one chunk
# at a time only while the op waits for data, and prints the outcomes as JSON. Bytes travel as
# latin1 strings. Python 3.8+ (readuntil with a tuple of separators needs 3.13, so not used).
import asyncio
import json
import sys


def outcome(task, reader):
    exc = task.exception()
    left = len(reader._buffer)
    if exc is None:
        return ['ok', task.result().decode('latin1'), left]
    if isinstance(exc, asyncio.IncompleteReadError):
        return ['incomplete', exc.partial.decode('latin1'), exc.expected, left]
    if isinstance(exc, asyncio.LimitOverrunError):
        return ['overrun', str(exc), exc.consumed, left]
    if isinstance(exc, ValueError):  # readline over the limit
        return ['overrun', str(exc), None, left]
    return ['error', type(exc).__name__, str(exc), left]


async def replay(case):
    reader = asyncio.StreamReader(limit=case['limit'])
    chunks = [c.encode('latin1') for c in case['chunks']]
    results = []
    for op in case['ops']:
        kind, arg = op
        if kind == 'readline':
            coro = reader.readline()
        elif kind == 'readuntil':
            coro = reader.readuntil(arg.encode('latin1'))
        elif kind == 'readexactly':
            coro = reader.readexactly(arg)
        else:
            coro = reader.read(arg)
        task = asyncio.ensure_future(coro)
        while True:
            await asyncio.sleep(0)
            if task.done():
                break
            if chunks:
                reader.feed_data(chunks.pop(0))
            elif not reader.at_eof() and not reader._eof:
                reader.feed_eof()
        results.append(outcome(task, reader))
    return results


async def main():
    cases = json.load(sys.stdin)
    print(json.dumps([await replay(case) for case in cases]))


asyncio.run(main())
