/**
 * Copies a response body aside as it streams to the client, for cache-store: every chunk goes on
 * at once (the first byte is not delayed), and a copy is kept while the body stays within the
 * entry limit; past it the copy is dropped and the rest streams through untouched. Only a body
 * that ended normally is handed to `complete`: one cut off (the client left, the backend failed)
 * is never stored.
 */

/** The body stream to send on instead of `source`; `complete` gets the whole body once it ended within `limit` bytes, `overflow` is called once when it grows past. */
export function teeWithin(
  source: ReadableStream<Uint8Array>,
  limit: number,
  complete: (body: Uint8Array<ArrayBuffer>) => void,
  overflow: () => void,
): ReadableStream<Uint8Array> {
  let chunks: Uint8Array[] | undefined = [];
  let size = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (chunks) {
          size += chunk.byteLength;
          if (size > limit) {
            chunks = undefined;
            overflow();
          } else {
            // A copy: the runtime may reuse or hand off the chunk's memory once it is written out.
            chunks.push(chunk.slice());
          }
        }
        controller.enqueue(chunk);
      },
      flush() {
        if (!chunks) return;
        const body = new Uint8Array(size);
        let at = 0;
        for (const chunk of chunks) {
          body.set(chunk, at);
          at += chunk.byteLength;
        }
        chunks = undefined;
        complete(body);
      },
    }),
  );
}
