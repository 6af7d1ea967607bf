/**
 * The receiving side of one stream under credit (docs/PROTOCOL.md §5.8): it
 * counts the values its subscriber has taken and says when to grant them
 * back, once per half window (not per value).
 */
export class GrantCounter {
  private taken = 0;

  constructor(
    /** This side's window (`streamWindow`): the sender's first credit. */
    readonly window: number,
  ) {}

  /** Values taken and not granted back yet. */
  get pending(): number {
    return this.taken;
  }

  /**
   * The subscriber took one value. Returns the grant to send now: the values
   * taken since the last grant once they reach half the window, else 0.
   */
  take(): number {
    this.taken++;
    if (this.taken * 2 < this.window) return 0;
    const grant = this.taken;
    this.taken = 0;
    return grant;
  }
}
