import type { Readable } from "node:stream";

/**
 * A web stream over a Node readable that reads only when the consumer pulls (so backpressure reaches
 * the backend) and destroys the readable when the consumer cancels, e.g. when the client goes away.
 * Node 20's `Readable.toWeb` can enqueue after a cancel and crash the process with ERR_INVALID_STATE.
 */
export function webStream(body: Readable): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      body.destroy(reason instanceof Error ? reason : undefined);
    },
  });
}
