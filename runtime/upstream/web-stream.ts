import type { Readable } from "node:stream";

/**
 * A web stream over a Node readable that takes each chunk as it arrives ('data') and pauses the
 * readable while the web stream's queue is full, so backpressure still reaches the sender. Nothing
 * waits in the readable's own buffer: Deno's node:http2 client destroys
 * streams whose data is still buffered when the backend's GOAWAY closes the session, which would
 * cut off bodies that had fully arrived.
 */
export function flowingWebStream(body: Readable): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      body.on("data", (chunk: Uint8Array) => {
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 1) <= 0) body.pause();
      });
      body.once("end", () => {
        done = true;
        controller.close();
      });
      body.once("error", (error) => {
        if (done) return;
        done = true;
        controller.error(error);
      });
      body.once("close", () => {
        if (done) return;
        done = true;
        controller.error(new Error("the backend's stream closed before its end"));
      });
    },
    pull() {
      if (body.isPaused()) body.resume();
    },
    cancel(reason) {
      done = true;
      body.destroy(reason instanceof Error ? reason : undefined);
    },
  }, { highWaterMark: 16 * 1024, size: (chunk) => chunk?.byteLength ?? 0 });
}
