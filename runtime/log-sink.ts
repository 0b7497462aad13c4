/**
 * One log file's writer, as log.ts uses it: the ring (log-ring.ts) and the thread that empties
 * it into `<dir>/<name>.log` (log-writer.ts). The thread never holds the process open.
 * @internal
 */
import { resolve } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { LogRing } from "./log-ring.js";

export interface SinkOptions {
  dir: string;
  maxBytes: number;
  keep: number;
  bufferBytes: number;
}

export class LogSink {
  readonly ring: LogRing;
  private readonly writer: Worker;
  /** The writer's reason if it stops; read synchronously at exit, when no event loop runs. */
  private readonly problems: MessagePort;

  /** Start the writer of `name`.log; `report` gets each problem it has (one line of text). */
  constructor(readonly name: string, options: SinkOptions, private readonly report: (problem: string) => void) {
    this.ring = LogRing.create(options.bufferBytes);
    const { port1, port2 } = new MessageChannel();
    this.problems = port1;
    this.writer = new Worker(new URL("./log-writer.js", import.meta.url), {
      workerData: { sab: this.ring.sab, capacity: this.ring.capacity, dir: resolve(options.dir), name, maxBytes: options.maxBytes, keep: options.keep, port: port2 },
      transferList: [port2],
    });
    port1.on("message", report);
    port1.unref(); // after on("message"), which would hold the process open again
    this.writer.unref();
  }

  /** Block until every line pushed is on disk, at most 5 s; says on stderr (through `report`)
   * what stopped it, and how much was left `when` (e.g. "before exit"). */
  drain(when: string): void {
    const complete = this.ring.drain(5000);
    for (let m; (m = receiveMessageOnPort(this.problems));) this.report(m.message as string);
    if (!complete) this.report(`${this.ring.pending()} bytes of log lines could not be written ${when}`);
  }

  /** Drain, then stop the thread. */
  close(when: string): void {
    this.drain(when);
    void this.writer.terminate();
    this.problems.close();
  }
}
