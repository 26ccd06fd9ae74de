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

process.on('message', (message: Request) => {
  runJob(message.job).then(
    (result) => {
      // Between processes everything is copied; a transfer list is only a hint here.
      send({ id: message.id, ok: true, value: isTransferMarker(result) ? result.value : result });
    },
    (error: unknown) => {
      send({ id: message.id, ok: false, error: packError(error) });
    },
  );
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
