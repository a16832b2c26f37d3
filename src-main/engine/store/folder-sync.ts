// The folder store's durability barrier: syncfs(2) of the store's file system. Node has no
// syncfs; `sync --file-system DIR` does it. Starting a process from a Node process of a few
// hundred MB blocks the calling thread for 10-40 ms (the fork copies its page tables), and a
// backup needs two barriers (its objects, then its manifest). Nouns: a *syncer* is one small
// shell, started once per store on the main thread, that runs `sync --file-system` for every
// line it reads and answers each with a line (its own forks are cheap); it ends when its input
// closes (the store is closed, or this process exits) and is reaped then.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

const SCRIPT = 'while read -r _; do if sync --file-system -- "$1"; then echo ok; else echo failed; fi; done';

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
  /** asked again of a new shell after its shell ended unanswered (once) */
  again: boolean;
}

export class Syncer {
  private child: ChildProcess | null = null;
  private waiting: Waiter[] = [];

  constructor(private readonly root: string) {}

  /** Resolves once the file system holding the root is synced (everything written before the call is durable). */
  sync(): Promise<void> {
    const child = this.child ?? this.start();
    return new Promise<void>((resolve, reject) => this.ask(child, { resolve, reject, again: false }));
  }

  private ask(child: ChildProcess, waiter: Waiter): void {
    this.waiting.push(waiter);
    // awaited answers keep this process alive (an idle shell does not)
    (child.stdout as unknown as Socket).ref();
    child.stdin!.write('\n');
  }

  /** Ends the shell (its input closes); a later sync starts another. */
  close(): void {
    this.child?.stdin?.end();
    this.child = null;
    this.waiting = []; // the ending shell still answers the syncs it was given
  }

  private start(): ChildProcess {
    const child = spawn('sh', ['-c', SCRIPT, 'blockvault-sync', this.root], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Idle, it never keeps this process alive: at exit its input closes and it ends.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as Socket).unref();
    const waiting = this.waiting;
    let stderr = '';
    let pending = '';
    // A shell that ended (killed, or it could not start) fails no barrier at once: the syncs
    // it left unanswered are asked once more of a new shell (a sync more is harmless).
    const end = (error: Error): void => {
      const current = this.child === child;
      if (current) {
        this.child = null;
        this.waiting = [];
      }
      for (const waiter of waiting.splice(0)) {
        if (!current || waiter.again) waiter.reject(error);
        else this.ask(this.child ?? this.start(), { ...waiter, again: true });
      }
    };
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const answer = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const waiter = waiting.shift();
        if (answer === 'ok') waiter?.resolve();
        else waiter?.reject(new Error(stderr.trim().split('\n').pop() || `sync --file-system ${this.root} failed`));
        stderr = '';
      }
      if (waiting.length === 0) (child.stdout as unknown as Socket).unref();
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => { stderr = (stderr + text).slice(-4096); });
    child.stdin!.on('error', () => undefined); // EPIPE when it ended: its exit says why
    child.once('error', (error) => end(error));
    child.once('exit', (code, signal) => end(new Error(`the sync helper ended (${signal ? `signal ${signal}` : `status ${code}`})`)));
    this.child = child;
    return child;
  }
}
