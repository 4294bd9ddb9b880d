// A tqdm-style progress bar on a terminal; nothing otherwise (the per-epoch lines still print).
export class ProgressBar {
  #start = Date.now();
  #last = 0;
  readonly enabled: boolean;

  constructor(readonly total: number, readonly label: string, readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = Boolean(stream.isTTY) && total > 0;
  }

  update(done: number, postfix: string): void {
    if (!this.enabled || (Date.now() - this.#last < 100 && done < this.total)) return;
    this.#last = Date.now();
    const elapsed = (Date.now() - this.#start) / 1000;
    const rate = done / Math.max(elapsed, 1e-3);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const width = 24;
    const filled = Math.round((done / this.total) * width);
    const fmt = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
    this.stream.write(`\r${this.label} ${String(Math.round((done / this.total) * 100)).padStart(3)}%|${'#'.repeat(filled)}${' '.repeat(width - filled)}| ${done}/${this.total} [${fmt(elapsed)}<${fmt(eta)}, ${rate.toFixed(2)}it/s, ${postfix}]`);
  }

  done(): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
  }
}
