/**
 * `luanet up --watch`: reload a service (its reserved `luanet.reload`) when its script or a user's
 * file it imports changes; only the services whose graph holds the file, one at a time. Before a
 * service's first reload its files are found by reading its imports (imports.ts); each reload
 * then reports the exact graph, which replaces them. Folders are watched (fs.watch), not files,
 * so an editor that saves by renaming a new file over the old one is seen too; changes within
 * DEBOUNCE_MS are one reload.
 * @internal
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import { importedFiles } from "./imports.js";
import type { LogStream } from "./log-stream.js";
import type { Member } from "./unit.js";

const DEBOUNCE_MS = 150;

export interface Reloaded {
  generation: number;
  files: string[];
  ms: number;
}

export class ReloadOnChange {
  /** Service name -> the files of its graph. */
  private readonly files = new Map<string, Set<string>>();
  private readonly dirs = new Map<string, FSWatcher>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly stream: LogStream, private readonly reload: (service: string) => Promise<Reloaded | Error>) {}

  /** Watch the graphs of `members` (those not watched yet), and no longer those of services
   * that are not among them (scaled away). */
  track(members: readonly Member[]): void {
    const names = new Set(members.map((m) => m.name));
    for (const name of this.files.keys()) if (!names.has(name)) this.files.delete(name);
    for (const m of members) {
      if (m.script === null || this.files.has(m.name)) continue;
      this.set(m.name, importedFiles(m.script));
    }
  }

  private set(name: string, files: Set<string>): void {
    this.files.set(name, files);
    for (const file of files) this.watchDir(dirname(file));
  }

  private watchDir(dir: string): void {
    if (this.dirs.has(dir)) return;
    try {
      const watcher = watch(dir, { persistent: false }, (_, filename) => {
        if (filename !== null) this.changed(join(dir, filename.toString()));
      });
      watcher.on("error", () => this.dirs.delete(dir));
      this.dirs.set(dir, watcher);
    } catch (error) {
      this.stream.line("up", `--watch cannot watch ${dir}: ${(error as Error).message}`);
    }
  }

  private changed(path: string): void {
    if (![...this.files.values()].some((files) => files.has(path))) return;
    this.pending.add(path);
    this.timer ??= setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  private flush(): void {
    this.timer = null;
    const changed = [...this.pending];
    this.pending.clear();
    const services = [...this.files].filter(([, files]) => changed.some((f) => files.has(f))).map(([name]) => name);
    this.queue = this.queue.then(async () => {
      for (const name of services) {
        this.stream.line("up", `${name}: ${changed.map((f) => basename(f)).join(", ")} changed: reloading`);
        const answer = await this.reload(name);
        if (answer instanceof Error) {
          this.stream.line("up", `${name}: not reloaded, the old code serves on: ${answer.message}`);
          continue;
        }
        this.stream.line("up", `${name}: reloaded (generation ${answer.generation}, ${answer.files.length} files, ${answer.ms} ms)`);
        this.set(name, new Set(answer.files));
      }
    });
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    for (const watcher of this.dirs.values()) watcher.close();
    this.dirs.clear();
  }
}
