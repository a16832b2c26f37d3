// Bounded concurrency for the pipelines: at most `limit` tasks in flight over an iterable.

/** Runs tasks with at most `limit` in flight; stops launching at the first error. */
export async function runBounded<T>(items: Iterable<T>, limit: number, signal: AbortSignal | undefined, task: (item: T) => Promise<void>): Promise<void> {
  let firstError: unknown = null;
  const inFlight = new Set<Promise<void>>();
  for (const item of items) {
    if (firstError || signal?.aborted) break;
    if (inFlight.size >= limit) await Promise.race(inFlight);
    if (firstError || signal?.aborted) break;
    const running: Promise<void> = task(item).catch((error) => { firstError ??= error; }).finally(() => inFlight.delete(running));
    inFlight.add(running);
  }
  await Promise.all(inFlight);
  if (firstError) throw firstError;
}
