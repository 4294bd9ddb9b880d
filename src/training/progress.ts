// A tqdm-style progress bar on a terminal; nothing otherwise (the per-epoch lines still print).

/** What the bar needs of a stream: process.stderr, or a fake terminal in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

// The bar drawn last and not yet cleared: other output clears it first, so every line printed
// meanwhile (a notice, a warning, an epoch line) starts at the left edge.
let drawn: ProgressBar | null = null;

/** Clears a progress bar from its line, so what is printed next starts on a fresh line. */
export function clearProgressLine(): void {
  drawn?.clear();
}

const fmtTime = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

export class ProgressBar {
  #start = Date.now();
  #last = 0;
  readonly enabled: boolean;

  constructor(readonly total: number, readonly label: string, readonly stream: ProgressStream = process.stderr) {
    this.enabled = Boolean(stream.isTTY) && total > 0;
  }

  update(done: number, postfix = ''): void {
    if (!this.enabled || (Date.now() - this.#last < 100 && done < this.total)) return;
    this.#last = Date.now();
    const elapsed = (Date.now() - this.#start) / 1000;
    const rate = done / Math.max(elapsed, 1e-3);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    this.stream.write(`\r${this.line(done, elapsed, rate, eta, postfix)}\x1b[K`);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the module-level `drawn` is the bar other output clears
    drawn = this;
  }

  /**
   * The bar's text, one column short of the terminal's width: a line that fills the last column
   * wraps on some terminals, and the next `\r` then redraws below it. The bar shrinks first, then
   * the rate goes, then the times, then the loss; what is left is cut to fit.
   */
  private line(done: number, elapsed: number, rate: number, eta: number, postfix: string): string {
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    const pct = `${String(Math.round((done / this.total) * 100)).padStart(3)}%`;
    const count = `${done}/${this.total}`;
    const time = `${fmtTime(elapsed)}<${fmtTime(eta)}`;
    const speed = `${rate.toFixed(2)}it/s`;
    const choices = [[time, speed, postfix], [time, postfix], [postfix], []].map((d) => d.filter(Boolean));
    let text = '';
    for (const details of choices) {
      const tail = ` ${count}${details.length ? ` [${details.join(', ')}]` : ''}`;
      const cells = Math.min(24, width - (this.label.length + 1 + pct.length + 2 + tail.length));
      const filled = Math.round((done / this.total) * Math.max(0, cells));
      text = `${this.label} ${pct}|${'#'.repeat(filled)}${' '.repeat(Math.max(0, cells - filled))}|${tail}`;
      if (cells >= 10) break;
    }
    return text.slice(0, width);
  }

  /** Removes the bar (it is redrawn by the next update). */
  clear(): void {
    if (drawn === this) {
      this.stream.write('\r\x1b[K');
      drawn = null;
    }
  }

  done(): void {
    this.clear();
  }
}
