/**
 * Who holds a place on a listener (a stream listener's connections, a UDP listener's links). A connection is "unproven" from its arrival until it
 * has carried two frames, the dialer's greeting and one more (after the cluster handshake, when a secret is set), then
 * "proven". Places are bounded in total and per source address (an IP; UNIX-socket peers all
 * count as one source). A new connection that finds no place takes that of the oldest unproven
 * connection (of its own source when it is its source that is full); only when every place is
 * held by proven connections is it refused. So connections that connect and then say nothing
 * cannot lock anyone out: a newcomer displaces them, and proves itself with its first call.
 * @internal
 */
export interface Place {
  /** Ends the connection or link that holds the place (when it is displaced). */
  readonly drop: () => void;
  readonly source: string;
  proven: boolean;
  gone: boolean;
}

interface Source {
  count: number;
  /** Its unproven places, oldest first. */
  readonly unproven: Set<Place>;
}

export class Admission {
  private total = 0;
  /** Every unproven place, oldest first. */
  private readonly unproven = new Set<Place>();
  private readonly sources = new Map<string, Source>();

  /** `limits()`: read at each arrival, so luanet.Configure applies to a listener already open. */
  constructor(private readonly limits: () => { max: number; perSource: number }, private readonly onDisplaced: () => void) {}

  /** A place for the connection `drop` ends, or null: it must be refused. */
  admit(drop: () => void, source: string): Place | null {
    const { max, perSource } = this.limits();
    const before = this.sources.get(source);
    if (before !== undefined && before.count >= perSource && !this.displace(before.unproven)) return null;
    if (this.total >= max && !this.displace(this.unproven)) return null;
    // Looked up again: a displacement that took the source's last place removed its entry.
    let from = this.sources.get(source);
    if (from === undefined) this.sources.set(source, (from = { count: 0, unproven: new Set() }));
    const place: Place = { drop, source, proven: false, gone: false };
    from.count++;
    from.unproven.add(place);
    this.unproven.add(place);
    this.total++;
    return place;
  }

  /** The connection has proved itself: it is never displaced. */
  prove(place: Place): void {
    if (place.gone || place.proven) return;
    place.proven = true;
    this.unproven.delete(place);
    this.sources.get(place.source)!.unproven.delete(place);
  }

  /** The connection closed (idempotent). */
  leave(place: Place): void {
    if (place.gone) return;
    place.gone = true;
    this.total--;
    this.unproven.delete(place);
    const from = this.sources.get(place.source)!;
    from.unproven.delete(place);
    if (--from.count === 0) this.sources.delete(place.source);
  }

  /** Places held now from `source`: whether it, not the total, refused a newcomer. */
  held(source: string): number {
    return this.sources.get(source)?.count ?? 0;
  }

  private displace(places: Set<Place>): boolean {
    const oldest = places.values().next();
    if (oldest.done === true) return false;
    this.leave(oldest.value);
    oldest.value.drop();
    this.onDisplaced();
    return true;
  }
}
