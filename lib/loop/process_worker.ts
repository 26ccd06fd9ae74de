/**
 * The entry point of every `ProcessPoolExecutor` child (`child_process.fork` with an 'advanced'
 * serialization channel, so messages are structured clones, as between threads). One job at a
 * time: `{ id, job }` in, `{ id, ok, value }` or `{ id, ok: false, error }` out. The child exits
 * when its channel closes (the parent shut the pool down or died).
 * @packageDocumentation
 */
import { type JobMessage, isTransferMarker, packError, runJob } from './executor_work';

interface Request {
  id: number;
  job: JobMessage;
}

function send(message: unknown): void {
  // A parent that went away mid-job: nothing to report to; 'disconnect' below ends the child.
  if (process.connected) process.send?.(message);
}

/** The reply, or, when its value cannot be serialized, an error saying so in its place. */
function reply(id: number, ok: boolean, value: unknown): void {
  try {
    send(ok ? { id, ok, value } : { id, ok, error: value });
  } catch (cause) {
    const error = new TypeError(`The job's ${ok ? 'result' : 'error'} could not be sent back (structured clone): ${String((cause as Error).message)}`);
    (error as TypeError & { code: string }).code = 'ERR_EXECUTOR_DATA_CLONE';
    send({ id, ok: false, error: packError(error) });
  }
}

process.on('message', (message: Request) => {
  runJob(message.job).then(
    (result) => {
      // Between processes everything is copied; a transfer list is only a hint here.
      reply(message.id, true, isTransferMarker(result) ? result.value : result);
    },
    (error: unknown) => {
      reply(message.id, false, packError(error));
    },
  );
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
