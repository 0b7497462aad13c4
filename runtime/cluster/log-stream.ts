/**
 * The one log stream `luanet up` prints: every line of every service's output, prefixed with its
 * name (`Room-2 | ...`), a colour per name on a terminal, plain when piped (chalk decides).
 * Bounded: a line is cut at MAX_LINE characters, and while the terminal or pipe takes lines slower
 * than the services write them (over MAX_QUEUED bytes waiting), lines are dropped and counted,
 * so a chatty service never stalls the others or grows the supervisor's memory.
 * @internal
 */
import type { Readable, Writable } from "node:stream";
import chalk from "chalk";

export const MAX_LINE = 8192;
const MAX_QUEUED = 1 << 20;
const COLOURS = [chalk.cyan, chalk.magenta, chalk.yellow, chalk.green, chalk.blue, chalk.red, chalk.cyanBright, chalk.magentaBright, chalk.yellowBright, chalk.greenBright];

export class LogStream {
  private width = 2;
  private readonly colours = new Map<string, (text: string) => string>();
  private dropped = 0;

  constructor(private readonly out: Writable = process.stdout) {}

  /** Make room for `name` in the prefix column. */
  reserve(name: string): void {
    this.width = Math.max(this.width, Math.min(name.length, 24));
  }

  /** One line from `name`. */
  line(name: string, text: string): void {
    if (this.out.writableLength > MAX_QUEUED) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      const n = this.dropped;
      this.dropped = 0;
      this.write("up", `(${n} lines of output dropped: the terminal or pipe was too slow)`);
    }
    this.write(name, text.length > MAX_LINE ? text.slice(0, MAX_LINE) + "…" : text);
  }

  private write(name: string, text: string): void {
    let colour = this.colours.get(name);
    if (colour === undefined) this.colours.set(name, (colour = name === "up" ? chalk.bold : COLOURS[this.colours.size % COLOURS.length]!));
    this.out.write(`${colour(name.padEnd(this.width))} | ${text}\n`);
  }

  /** Print every line `stream` carries as `name`'s (a partial last line when it ends). */
  follow(name: string, stream: Readable): void {
    this.reserve(name);
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        this.line(name, rest.slice(0, nl).replace(/\r$/, ""));
        rest = rest.slice(nl + 1);
      }
      if (rest.length > MAX_LINE) {
        this.line(name, rest);
        rest = "";
      }
    });
    stream.on("end", () => {
      if (rest !== "") this.line(name, rest);
    });
    stream.on("error", () => {}); // the process is gone: its exit says so
  }
}
