/**
 * Copies a response body aside as it streams to the client, for cache-store: every chunk goes on
 * at once (the first byte is not delayed), and a copy is kept while the body stays within the
 * entry limit; past it the copy is dropped and the rest streams through untouched. Only a whole
 * body is handed to `complete`: one cut off (the client left, the backend failed) is never stored.
 * The body is handed over before the client gets its last byte (before the last chunk of a body
 * with a declared length is passed on, before the end of one without), so a client that asks again
 * once it has the whole answer finds it in an in-process store.
 */

/**
 * The body stream to send on instead of `source`; `complete` gets the whole body once it is all
 * there within `limit` bytes (`length`: the declared Content-Length, if any), `overflow` is called
 * once when it grows past.
 */
export function teeWithin(
  source: ReadableStream<Uint8Array>,
  limit: number,
  length: number | undefined,
  complete: (body: Uint8Array<ArrayBuffer>) => void,
  overflow: () => void,
): ReadableStream<Uint8Array> {
  let chunks: Uint8Array[] | undefined = [];
  let size = 0;
  const hand = (kept: Uint8Array[]) => {
    chunks = undefined;
    const body = new Uint8Array(size);
    let at = 0;
    for (const chunk of kept) {
      body.set(chunk, at);
      at += chunk.byteLength;
    }
    complete(body);
  };
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
            if (size === length) hand(chunks);
          }
        }
        controller.enqueue(chunk);
      },
      flush() {
        if (chunks) hand(chunks);
      },
    }),
  );
}
