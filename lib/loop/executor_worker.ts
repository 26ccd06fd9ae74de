/**
 * The module every `ThreadPoolExecutor` thread loads: piscina calls the default export once per
 * job (piscina's "filename" is this file; the user's module travels in the job, see
 * executor_work.ts). A `transfer()` result is handed to piscina as its own movable value, so the
 * listed buffers are transferred rather than copied.
 * @packageDocumentation
 */
import Piscina from 'piscina';
import { type JobMessage, isTransferMarker, packError, runJob } from './executor_work';

/** Runs one job in this thread (called by piscina). */
export default async function runThreadJob(job: JobMessage): Promise<unknown> {
  let result: unknown;
  try {
    result = await runJob(job);
  } catch (error) {
    throw packError(error);
  }
  if (!isTransferMarker(result)) return result;
  return Piscina.move({
    [Piscina.transferableSymbol]: result.transferList,
    [Piscina.valueSymbol]: result.value,
  } as never);
}
